"""tinyeie.sim"""

"""tinyeie.hw"""

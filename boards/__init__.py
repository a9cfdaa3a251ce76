"""tinyeie.boards"""

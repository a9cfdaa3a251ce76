"""The engine compiler: integer layers, the packed model image, the golden model, its interpreter.
"""

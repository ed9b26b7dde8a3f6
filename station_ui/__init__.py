"""PyQt6 operator console. Displays and forwards; holds no inspection logic."""

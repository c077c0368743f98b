"""Guest-side scripts of the tiny image (shipped as package data)."""

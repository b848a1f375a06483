"""See DESIGN.md for the layer rule."""

"""The columnar engine for the utility brain: populations as arrays, pages by the batch."""

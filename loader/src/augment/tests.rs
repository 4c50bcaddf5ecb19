//! Tests of the augmenter on generated images.

//! The benchmark's input rows, computed identically here and in
//! bench/inprocess.py so that every path predicts the same values.

/// The benchmark model's input names (fixtures/mlflow/wide8).
pub const INPUT_NAMES: [&str; 8] = ["f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"];

/// Row-major FP32 inputs for `rows` rows of `width` columns: value `i` is
/// `((i * 37) mod 1000) / 250 - 2`, computed in FP32. Every step is exact
/// or correctly rounded, so numpy computes the same bits.
pub fn input_values(rows: usize, width: usize) -> Vec<f32> {
    (0..rows * width)
        .map(|index| ((index * 37) % 1000) as f32 / 250.0 - 2.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_follow_the_formula() {
        let values = input_values(2, 8);
        assert_eq!(values.len(), 16);
        assert_eq!(values[0], -2.0);
        assert_eq!(values[1], 37.0 / 250.0 - 2.0);
        assert_eq!(values[15], ((15 * 37) % 1000) as f32 / 250.0 - 2.0);
    }
}

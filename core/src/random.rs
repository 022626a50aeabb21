//! SplitMix64: a tiny, well-known deterministic generator. Where a result
//! must be the same on every machine and with every version of every
//! dependency (data splits, a solver's visiting order, generated test
//! data), this is the one stream to draw from.

/// The generator; `SplitMix64::new(seed)` starts a stream.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `0..bound` (bound > 0), by remainder: the slight bias towards
    /// small values does not matter for its uses.
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    #[test]
    fn the_stream_is_splitmix64() {
        // The reference values of SplitMix64 from seed 1234567.
        let mut random = SplitMix64::new(1_234_567);
        let values: Vec<u64> = (0..3).map(|_| random.next_u64()).collect();
        assert_eq!(values, [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423]);
        assert!((0..100).all(|_| random.below(7) < 7));
    }
}

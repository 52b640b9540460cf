//! The boundary between a call's media and wherever its audio comes from and goes to.

/// A source and sink of 20 ms mono frames at the rate of the call's codec (8 kHz for G.711,
/// 48 kHz for Opus): the frame length tells. Implementations are memory only (WAV buffers,
/// silence, lock-free rings to a device): they never block.
pub trait AudioPort: Send {
    /// Fills `frame` with the next captured 20 ms (the microphone, or a file).
    fn capture(&mut self, frame: &mut [i16]);
    /// Takes the next 20 ms to play (the headset, or a recording).
    fn playback(&mut self, frame: &[i16]);
}

/// A port that captures silence and discards what it is given.
impl AudioPort for () {
    fn capture(&mut self, frame: &mut [i16]) {
        frame.fill(0);
    }
    fn playback(&mut self, _frame: &[i16]) {}
}

//! Deterministic mutations of the sample files for the "never panics" tests: truncations at
//! regular offsets, then bit flips, byte insertions/deletions and format-significant tokens at
//! positions drawn from a fixed LCG (no extra dependency, same cases on every run).

/// Tokens that steer a parser into its edge cases (tags, record codes, signs, broken UTF-8).
const TOKENS: [&[u8]; 16] = [
    b"<",
    b">",
    b"</",
    b"/>",
    b"-",
    b"\n",
    b"\r\n",
    b";",
    b",",
    b"\"",
    b"\xFF",
    b"\xC3",
    b"&",
    b"9",
    b"<Ntry>",
    b"<STMTTRN>",
];

pub(crate) fn mutations(sample: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let step = (sample.len() / 150).max(1);
    out.extend(
        (0..sample.len())
            .step_by(step)
            .map(|cut| sample[..cut].to_vec()),
    );

    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ sample.len() as u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    for _ in 0..400 {
        let mut m = sample.to_vec();
        for _ in 0..1 + next() % 3 {
            let pos = next() % (m.len() + 1);
            match next() % 4 {
                0 if pos < m.len() => m[pos] ^= 1 << (next() % 8),
                1 => m.insert(pos, (next() & 0xFF) as u8),
                2 if pos < m.len() => {
                    m.remove(pos);
                }
                _ => {
                    let token = TOKENS[next() % TOKENS.len()];
                    m.splice(pos..pos, token.iter().copied());
                }
            }
        }
        out.push(m);
    }
    out
}

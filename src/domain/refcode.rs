//! Reference codes: a report's number as seven characters that can be read over the phone, written on a
//! paper receipt and typed on a keypad, with a check character.
//!
//! The code is a function of the report's id, not a stored value: ids are never reused, and the mapping is
//! a bijection, so no two reports can ever share a code and intake needs no extra write or retry. Ids up to
//! 31⁶ (887 million) are scrambled by an affine permutation so that consecutive reports get unrelated-looking
//! codes (the id is public anyway: the code hides nothing, it is only easier to say); larger ids get longer
//! codes.
//!
//! The alphabet has 31 characters: digits and capitals without 0, 1, I, L and O, which are misread as each
//! other. 31 is prime, which is what lets the check work: the weighted sum Σ i·vᵢ (i = 1…n) of a valid code is
//! 0 modulo 31. Changing one character at position i changes the sum by i·d with d ≠ 0 — never a multiple of
//! 31 — and swapping two adjacent different characters changes it by their difference, never a multiple of 31
//! either. So every single mistyped character and every adjacent swap is caught.

const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const BASE: u64 = 31;
/// Data characters in a normal code (the check character comes on top).
const DATA_LEN: u32 = 6;
/// 31⁶: ids below this get seven-character codes.
const SPACE: u64 = 887_503_681;
/// Multiplier of the permutation: coprime to 31⁶ (it is not a multiple of 31).
const MUL: u64 = 594_823_321;
/// Its inverse modulo 31⁶ (checked by a test).
const MUL_INV: u64 = inverse(MUL, SPACE);
const ADD: u64 = 123_456_789;

const fn inverse(a: u64, m: u64) -> u64 {
    // Extended Euclid over i128, at compile time.
    let (mut t, mut new_t) = (0i128, 1i128);
    let (mut r, mut new_r) = (m as i128, a as i128);
    while new_r != 0 {
        let q = r / new_r;
        let (t2, r2) = (t - q * new_t, r - q * new_r);
        t = new_t;
        new_t = t2;
        r = new_r;
        new_r = r2;
    }
    if t < 0 {
        t += m as i128;
    }
    t as u64
}

fn value_of(c: u8) -> Option<u64> {
    ALPHABET
        .iter()
        .position(|&a| a == c.to_ascii_uppercase())
        .map(|p| p as u64)
}

/// The code of a report id.
pub fn encode(id: i64) -> String {
    let id = id.max(0) as u64;
    let mut n = if id < SPACE {
        ((id as u128 * MUL as u128 + ADD as u128) % SPACE as u128) as u64
    } else {
        id
    };
    let mut digits = Vec::with_capacity(8);
    while n > 0 || digits.len() < DATA_LEN as usize {
        digits.push((n % BASE) as u8);
        n /= BASE;
    }
    digits.reverse();
    let len = digits.len() as u64 + 1;
    let sum: u64 = digits
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as u64 + 1) * u64::from(v))
        .sum();
    // The check character v makes sum + len·v ≡ 0 (mod 31); len < 31 is invertible.
    let check = ((BASE - sum % BASE) % BASE * inverse(len % BASE, BASE)) % BASE;
    digits.push(check as u8);
    digits
        .into_iter()
        .map(|v| ALPHABET[v as usize] as char)
        .collect()
}

/// Why a typed code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// Not a code's shape: wrong length or a character outside the alphabet.
    Shape,
    /// The check character does not match: a character was mistyped or two were swapped.
    Check,
}

/// The report id of a typed code. Case, spaces and dashes are ignored (`jk7-q3fx`).
pub fn decode(typed: &str) -> Result<i64, Bad> {
    let chars: Vec<u8> = typed
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'-' | b'\t'))
        .collect();
    // 7 characters, or more for ids past 31⁶ (at most 13: an i64 in base 31, plus the check).
    if !(DATA_LEN as usize + 1..=14).contains(&chars.len()) {
        return Err(Bad::Shape);
    }
    let values: Vec<u64> = chars
        .iter()
        .map(|&c| value_of(c))
        .collect::<Option<_>>()
        .ok_or(Bad::Shape)?;
    let sum: u64 = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as u64 + 1) * v)
        .sum();
    if sum % BASE != 0 {
        return Err(Bad::Check);
    }
    let data = &values[..values.len() - 1];
    if data.len() > DATA_LEN as usize && data[0] == 0 {
        // A long code never starts with the zero digit: that would be a second spelling of a shorter one.
        return Err(Bad::Shape);
    }
    let mut n: u128 = 0;
    for &v in data {
        n = n * BASE as u128 + v as u128;
    }
    if data.len() == DATA_LEN as usize {
        let n = n as u64;
        let id = (((n + SPACE - ADD % SPACE) % SPACE) as u128 * MUL_INV as u128) % SPACE as u128;
        Ok(id as i64)
    } else if n >= SPACE as u128 && n <= i64::MAX as u128 {
        Ok(n as i64)
    } else {
        Err(Bad::Shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_inverse_is_an_inverse() {
        assert_eq!((MUL as u128 * MUL_INV as u128) % SPACE as u128, 1);
        assert_ne!(MUL % 31, 0);
        assert_eq!(SPACE, 31u64.pow(6));
    }

    #[test]
    fn codes_round_trip_and_look_unrelated() {
        for id in [
            0,
            1,
            2,
            3,
            99,
            100_000,
            SPACE as i64 - 1,
            SPACE as i64,
            i64::MAX,
        ] {
            let code = encode(id);
            assert_eq!(decode(&code), Ok(id), "{id} → {code}");
            assert_eq!(decode(&code.to_lowercase()), Ok(id));
        }
        assert_eq!(encode(1).len(), 7);
        assert_eq!(encode(SPACE as i64).len(), 8);
        let (a, b) = (encode(1), encode(2));
        assert!(
            a.chars().zip(b.chars()).filter(|(x, y)| x != y).count() >= 3,
            "{a} {b}"
        );
        let split = format!("{}-{} ", &a[..3], &a[3..]);
        assert_eq!(decode(&split), Ok(1));
    }

    /// The proof: unique over 100,000 reports, and every single-character error and adjacent swap
    /// of every one of them is caught.
    #[test]
    fn unique_over_100000_reports_and_every_typo_is_caught() {
        let mut seen = HashSet::new();
        for id in 1..=100_000i64 {
            let code = encode(id);
            assert!(seen.insert(code.clone()), "{code} given twice");
            let bytes = code.as_bytes();
            for i in 0..bytes.len() {
                for &c in ALPHABET.iter().filter(|&&c| c != bytes[i]) {
                    let mut typo = bytes.to_vec();
                    typo[i] = c;
                    let typo = String::from_utf8(typo).unwrap();
                    assert_eq!(decode(&typo), Err(Bad::Check), "{code} → {typo}");
                }
                if i + 1 < bytes.len() && bytes[i] != bytes[i + 1] {
                    let mut swap = bytes.to_vec();
                    swap.swap(i, i + 1);
                    let swap = String::from_utf8(swap).unwrap();
                    assert_eq!(decode(&swap), Err(Bad::Check), "{code} → {swap}");
                }
            }
        }
    }

    #[test]
    fn look_alikes_and_other_shapes_are_refused() {
        let code = encode(42);
        for bad in [
            "",
            "ABC",
            "O0O0O0O",
            "1111111",
            "ÄÄÄÄÄÄÄ",
            "22222222222222222",
        ] {
            assert_eq!(decode(bad), Err(Bad::Shape), "{bad}");
        }
        assert!(!code.contains(['0', '1', 'I', 'L', 'O']));
    }
}

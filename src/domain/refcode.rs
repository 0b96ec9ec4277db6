//! Reference codes: a report's number as seven characters that can be read over the phone, written on a
//! paper receipt and typed on a keypad, with a check character.
//!
//! The code is a function of the report's id, not a stored value: ids are never reused, and the mapping is
//! a bijection, so no two reports can ever share a code and intake needs no extra write or retry. Ids below
//! 23 × 31⁵ (658 million) are scrambled by an affine permutation so that consecutive reports get
//! unrelated-looking codes (the id is public anyway: the code hides nothing, it is only easier to say); larger
//! ids get longer codes. The first character is a letter, so a code is never all digits: staff routes that
//! take a report number or a code tell them apart.
//!
//! The alphabet has 31 characters: digits and capitals without 0, 1, I, L and O, which are misread as each
//! other. 31 is prime, which is what lets the check work: the weighted sum Σ i·vᵢ (i = 1…n) of a valid code is
//! 0 modulo 31. Changing one character at position i changes the sum by i·d with d ≠ 0 — never a multiple of
//! 31 — and swapping two adjacent different characters changes it by their difference, never a multiple of 31
//! either. So every single mistyped character and every adjacent swap is caught.

const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const BASE: u64 = 31;
/// The first character is always a letter (the alphabet's values 8 to 30), so that a code is never all
/// digits and cannot be mistaken for a report number where both are accepted.
const FIRST: u64 = 8;
const LETTERS: u64 = BASE - FIRST;
/// Base-31 digits after the first character in a seven-character code.
const REST: u32 = 5;
/// 23 × 31⁵: ids below this get seven-character codes.
const SPACE: u64 = LETTERS * 28_629_151;
/// Multiplier of the permutation: coprime to 23 × 31⁵ (a multiple of neither 23 nor 31).
const MUL: u64 = 594_823_321;
/// Its inverse modulo `SPACE` (checked by a test).
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

/// How many numbers codes with `rest` digits after the first character hold: 23 × 31^rest.
fn span(rest: u32) -> u128 {
    u128::from(LETTERS) * u128::from(BASE).pow(rest)
}

/// The code of a report id.
pub fn encode(id: i64) -> String {
    let id = id.max(0) as u128;
    // Which length, and the number within that length's span.
    let (rest, n) = if id < u128::from(SPACE) {
        let permuted = (id * u128::from(MUL) + u128::from(ADD)) % u128::from(SPACE);
        (REST, permuted)
    } else {
        let (mut rest, mut n) = (REST + 1, id - u128::from(SPACE));
        while n >= span(rest) {
            n -= span(rest);
            rest += 1;
        }
        (rest, n)
    };
    let scale = u128::from(BASE).pow(rest);
    let mut values = vec![FIRST + (n / scale) as u64];
    let mut tail = Vec::with_capacity(rest as usize);
    let mut r = n % scale;
    for _ in 0..rest {
        tail.push((r % u128::from(BASE)) as u64);
        r /= u128::from(BASE);
    }
    values.extend(tail.into_iter().rev());
    let len = values.len() as u64 + 1;
    let sum: u64 = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as u64 + 1) * v)
        .sum();
    // The check character v makes sum + len·v ≡ 0 (mod 31); len < 31 is invertible.
    let check = ((BASE - sum % BASE) % BASE * inverse(len % BASE, BASE)) % BASE;
    values.push(check);
    values
        .into_iter()
        .map(|v| ALPHABET[v as usize] as char)
        .collect()
}

/// Why a typed code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// Not a code's shape: wrong length, a character outside the alphabet, or a digit first.
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
    // 7 characters, or more for ids past 23 × 31⁵ (at most 15 for an i64).
    if !(REST as usize + 2..=15).contains(&chars.len()) {
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
    if values[0] < FIRST {
        return Err(Bad::Shape);
    }
    let rest = (values.len() - 2) as u32;
    let mut n = u128::from(values[0] - FIRST);
    for &v in &values[1..values.len() - 1] {
        n = n * u128::from(BASE) + u128::from(v);
    }
    let id = if rest == REST {
        (n + u128::from(SPACE) - u128::from(ADD % SPACE)) % u128::from(SPACE) * u128::from(MUL_INV)
            % u128::from(SPACE)
    } else {
        u128::from(SPACE) + (REST + 1..rest).map(span).sum::<u128>() + n
    };
    i64::try_from(id).map_err(|_| Bad::Shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_inverse_is_an_inverse() {
        assert_eq!((MUL as u128 * MUL_INV as u128) % SPACE as u128, 1);
        const { assert!(MUL % 31 != 0 && MUL % 23 != 0) };
        assert_eq!(SPACE, 23 * 31u64.pow(5));
    }

    #[test]
    fn codes_round_trip_and_look_unrelated() {
        let long = SPACE as i64 + span(6) as i64;
        for id in [
            0,
            1,
            2,
            3,
            99,
            100_000,
            SPACE as i64 - 1,
            SPACE as i64,
            long - 1,
            long,
            i64::MAX,
        ] {
            let code = encode(id);
            assert_eq!(decode(&code), Ok(id), "{id} → {code}");
            assert_eq!(decode(&code.to_lowercase()), Ok(id));
        }
        assert_eq!(encode(1).len(), 7);
        assert_eq!(encode(SPACE as i64).len(), 8);
        assert_eq!(encode(long).len(), 9);
        for id in (0..2_000_000).step_by(997) {
            let code = encode(id);
            assert!(
                code.as_bytes()[0].is_ascii_uppercase(),
                "{code} starts with a letter"
            );
            assert!(code.parse::<i64>().is_err(), "{code} is never a number");
        }
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

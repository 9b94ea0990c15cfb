//! Whisper's tokenizer and mel filter assets, as shipped by the `openai-whisper` package.

use std::io::Read;
use std::path::Path;

use base64::Engine;

use super::ConvertError;

/// Reads `mel_{n_mels}` from `mel_filters.npz`: returns (rows, cols, row-major f32).
pub fn read_mel_filters(
    npz: &Path,
    n_mels: usize,
) -> Result<(usize, usize, Vec<f32>), ConvertError> {
    let file = std::fs::File::open(npz).map_err(ConvertError::io(npz))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| ConvertError::Format(format!("{}: {e}", npz.display())))?;
    let entry_name = format!("mel_{n_mels}.npy");
    let mut entry = zip
        .by_name(&entry_name)
        .map_err(|_| ConvertError::Format(format!("{} has no {entry_name}", npz.display())))?;
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(ConvertError::io(npz))?;
    parse_npy_f32_2d(&bytes)
}

/// Parses a 2-D little-endian float32 C-order `.npy` array.
fn parse_npy_f32_2d(bytes: &[u8]) -> Result<(usize, usize, Vec<f32>), ConvertError> {
    let bad = |why: &str| ConvertError::Format(format!("mel filters: {why}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not an .npy array"));
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        _ if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(bad("truncated header")),
    };
    let header = bytes
        .get(header_start..header_start + header_len)
        .ok_or_else(|| bad("truncated header"))?;
    let header = String::from_utf8_lossy(header);
    if !header.contains("'descr': '<f4'") || header.contains("'fortran_order': True") {
        return Err(bad("expected little-endian float32 in C order"));
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().map_err(|_| bad("bad shape")))
        .collect::<Result<_, _>>()?;
    let [rows, cols] = dims[..] else {
        return Err(bad("expected a 2-D array"));
    };
    let data = &bytes[header_start + header_len..];
    if data.len() != rows * cols * 4 {
        return Err(bad("data size does not match shape"));
    }
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((rows, cols, values))
}

/// Reads a `.tiktoken` file (one `base64(token) rank` per line) into tokens ordered by rank.
pub fn read_tiktoken(path: &Path) -> Result<Vec<Vec<u8>>, ConvertError> {
    let text = std::fs::read_to_string(path).map_err(ConvertError::io(path))?;
    let mut ranked: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = || ConvertError::Format(format!("{}:{}: bad line", path.display(), i + 1));
        let (tok, rank) = line.split_once(' ').ok_or_else(bad)?;
        // The multilingual vocabulary has an empty token written as a lone "=", which a
        // strict decoder rejects; padding carries no information, so decode without it.
        let tok = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(tok.trim_end_matches('='))
            .map_err(|_| bad())?;
        ranked.push((rank.trim().parse().map_err(|_| bad())?, tok));
    }
    ranked.sort_by_key(|(r, _)| *r);
    // Ranks must be dense from 0: whisper.cpp assigns ids by position.
    if ranked.iter().enumerate().any(|(i, (r, _))| i != *r) {
        return Err(ConvertError::Format(format!(
            "{}: token ranks are not 0..n",
            path.display()
        )));
    }
    Ok(ranked.into_iter().map(|(_, t)| t).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_npy_v1() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        for v in [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.5] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let (r, c, d) = parse_npy_f32_2d(&b).expect("valid npy");
        assert_eq!((r, c), (2, 3));
        assert_eq!(d[5], 6.5);
        assert!(parse_npy_f32_2d(&b[..b.len() - 1]).is_err());
    }
}

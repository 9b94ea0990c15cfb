//! Converter tests on a synthetic CTranslate2 model small enough to check value by value.
//! The real tiny.en and base models are converted and transcribed in `stt/tests/`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::*;

const D: usize = 8;
const VOCAB: usize = 10;

/// Writes a CTranslate2 v6 `model.bin` from (name, dims, dtype id, bytes).
fn write_ct2(path: &Path, tensors: &[(String, Vec<usize>, u8, Vec<u8>)]) {
    let mut b = Vec::new();
    let s = |b: &mut Vec<u8>, s: &str| {
        b.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
        b.extend_from_slice(s.as_bytes());
        b.push(0);
    };
    b.extend_from_slice(&6u32.to_le_bytes());
    s(&mut b, "WhisperSpec");
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&(tensors.len() as u32).to_le_bytes());
    for (name, dims, dtype, data) in tensors {
        s(&mut b, name);
        b.push(dims.len() as u8);
        for d in dims {
            b.extend_from_slice(&(*d as u32).to_le_bytes());
        }
        b.push(*dtype);
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
    }
    b.extend_from_slice(&1u32.to_le_bytes());
    s(&mut b, "decoder/projection/weight");
    s(&mut b, "decoder/embeddings/weight");
    std::fs::write(path, b).unwrap();
}

/// f16 tensor whose element i of row r is `r + i/100` (so slices are recognisable).
fn f16_rows(name: &str, dims: &[usize]) -> (String, Vec<usize>, u8, Vec<u8>) {
    let row_len: usize = dims[1..].iter().product();
    let n: usize = dims.iter().product();
    let data = (0..n)
        .flat_map(|k| {
            let v = (k / row_len.max(1)) as f32 + (k % row_len.max(1)) as f32 / 100.0;
            half::f16::from_f32(v).to_le_bytes()
        })
        .collect();
    (name.to_owned(), dims.to_vec(), 4, data)
}

fn zeros_f16(name: &str, dims: &[usize]) -> (String, Vec<usize>, u8, Vec<u8>) {
    let n: usize = dims.iter().product();
    (name.to_owned(), dims.to_vec(), 4, vec![0; n * 2])
}

fn synthetic_model() -> Vec<(String, Vec<usize>, u8, Vec<u8>)> {
    let mut t = vec![
        (
            "encoder/num_heads".into(),
            vec![],
            2,
            2i16.to_le_bytes().to_vec(),
        ),
        (
            "decoder/num_heads".into(),
            vec![],
            2,
            2i16.to_le_bytes().to_vec(),
        ),
        ("decoder/activation".into(), vec![], 1, vec![3]),
        f16_rows("encoder/conv1/weight", &[D, 4, 3]),
        f16_rows("encoder/conv1/bias", &[D]),
        f16_rows("encoder/conv2/weight", &[D, D, 3]),
        f16_rows("encoder/conv2/bias", &[D]),
        f16_rows("encoder/position_encodings/encodings", &[6, D]),
        f16_rows("encoder/layer_norm/gamma", &[D]),
        f16_rows("encoder/layer_norm/beta", &[D]),
        f16_rows("decoder/embeddings/weight", &[VOCAB, D]),
        f16_rows("decoder/position_encodings/encodings", &[4, D]),
        f16_rows("decoder/layer_norm/gamma", &[D]),
        f16_rows("decoder/layer_norm/beta", &[D]),
    ];
    for stack in ["encoder", "decoder"] {
        let p = format!("{stack}/layer_0");
        t.push(f16_rows(
            &format!("{p}/self_attention/linear_0/weight"),
            &[3 * D, D],
        ));
        // Fused bias: q = 1, k = 0 (whisper has none), v = 2.
        let qkv_bias: Vec<u8> = (0..3 * D)
            .flat_map(|i| half::f16::from_f32([1.0, 0.0, 2.0][i / D]).to_le_bytes())
            .collect();
        t.push((
            format!("{p}/self_attention/linear_0/bias"),
            vec![3 * D],
            4,
            qkv_bias,
        ));
        for (m, dims) in [
            ("self_attention/linear_1/weight", vec![D, D]),
            ("self_attention/linear_1/bias", vec![D]),
            ("self_attention/layer_norm/gamma", vec![D]),
            ("self_attention/layer_norm/beta", vec![D]),
            ("ffn/layer_norm/gamma", vec![D]),
            ("ffn/layer_norm/beta", vec![D]),
            ("ffn/linear_0/weight", vec![4 * D, D]),
            ("ffn/linear_0/bias", vec![4 * D]),
            ("ffn/linear_1/weight", vec![D, 4 * D]),
            ("ffn/linear_1/bias", vec![D]),
        ] {
            t.push(f16_rows(&format!("{p}/{m}"), &dims));
        }
        if stack == "decoder" {
            for (m, dims) in [
                ("attention/layer_norm/gamma", vec![D]),
                ("attention/layer_norm/beta", vec![D]),
                ("attention/linear_0/weight", vec![D, D]),
                ("attention/linear_0/bias", vec![D]),
                ("attention/linear_1/weight", vec![2 * D, D]),
                ("attention/linear_2/weight", vec![D, D]),
                ("attention/linear_2/bias", vec![D]),
            ] {
                t.push(f16_rows(&format!("{p}/{m}"), &dims));
            }
            let mut kv_bias = zeros_f16(&format!("{p}/attention/linear_1/bias"), &[2 * D]);
            for i in D..2 * D {
                kv_bias.3[2 * i..2 * i + 2]
                    .copy_from_slice(&half::f16::from_f32(5.0).to_le_bytes());
            }
            t.push(kv_bias);
        }
    }
    t
}

fn write_assets(dir: &Path) -> WhisperAssets {
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 5), }";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy.extend_from_slice(header.as_bytes());
    for i in 0..20 {
        npy.extend_from_slice(&(i as f32).to_le_bytes());
    }
    let mel = dir.join("mel_filters.npz");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&mel).unwrap());
    zip.start_file("mel_4.npy", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(&npy).unwrap();
    zip.finish().unwrap();
    let gpt2 = dir.join("gpt2.tiktoken");
    // Deliberately out of rank order: ids come from ranks, not line order.
    std::fs::write(&gpt2, "Yg== 1\nYQ== 0\nIGM= 2\n= 3\n").unwrap();
    WhisperAssets {
        mel_filters: mel,
        gpt2_tiktoken: gpt2,
        multilingual_tiktoken: dir.join("missing.tiktoken"),
    }
}

/// Minimal reader of the ggml file, independent of the writer's code.
struct Ggml {
    header: Vec<i32>,
    vocab: Vec<Vec<u8>>,
    tensors: BTreeMap<String, (Vec<usize>, i32, Vec<f32>)>,
}

fn read_ggml(bytes: &[u8]) -> Ggml {
    let mut pos = 0;
    let rd = |pos: &mut usize| {
        let v = i32::from_le_bytes(bytes[*pos..*pos + 4].try_into().unwrap());
        *pos += 4;
        v
    };
    assert_eq!(rd(&mut pos) as u32, 0x6767_6d6c);
    let header: Vec<i32> = (0..11).map(|_| rd(&mut pos)).collect();
    let (n_mel, n_fft) = (rd(&mut pos) as usize, rd(&mut pos) as usize);
    pos += n_mel * n_fft * 4;
    let n_vocab = rd(&mut pos) as usize;
    let mut vocab = Vec::new();
    for _ in 0..n_vocab {
        let n = rd(&mut pos) as usize;
        vocab.push(bytes[pos..pos + n].to_vec());
        pos += n;
    }
    let mut tensors = BTreeMap::new();
    while pos < bytes.len() {
        let (n_dims, name_len, ftype) = (rd(&mut pos), rd(&mut pos) as usize, rd(&mut pos));
        let mut dims: Vec<usize> = (0..n_dims).map(|_| rd(&mut pos) as usize).collect();
        dims.reverse();
        let name = String::from_utf8(bytes[pos..pos + name_len].to_vec()).unwrap();
        pos += name_len;
        let n: usize = dims.iter().product();
        let width = if ftype == 1 { 2 } else { 4 };
        let values = bytes[pos..pos + width * n]
            .chunks_exact(width)
            .map(|c| match c {
                [a, b] => half::f16::from_le_bytes([*a, *b]).to_f32(),
                _ => f32::from_le_bytes(c.try_into().unwrap()),
            })
            .collect();
        pos += width * n;
        tensors.insert(name, (dims, ftype, values));
    }
    Ggml {
        header,
        vocab,
        tensors,
    }
}

#[test]
fn converts_names_shapes_and_splits() {
    let dir = tempfile::tempdir().unwrap();
    write_ct2(&dir.path().join("model.bin"), &synthetic_model());
    let assets = write_assets(dir.path());
    let out = dir.path().join("ggml.bin");
    let summary = convert_ct2_to_ggml(&dir.path().join("model.bin"), &assets, &out).unwrap();
    assert_eq!(summary.hparams.n_audio_layer, 1);
    assert_eq!(summary.hparams.n_text_head, 2);
    assert_eq!(summary.hparams.n_mels, 4);

    let g = read_ggml(&std::fs::read(&out).unwrap());
    assert_eq!(g.header, vec![VOCAB as i32, 6, 8, 2, 1, 4, 8, 2, 1, 4, 1]);
    assert_eq!(
        g.vocab,
        vec![b"a".to_vec(), b"b".to_vec(), b" c".to_vec(), Vec::new()]
    );
    let expected = expected_tensors(&summary.hparams);
    let got: BTreeMap<_, _> = g
        .tensors
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    assert_eq!(got, expected);

    // Q, K, V are consecutive row blocks of the fused matrix.
    let row0 = |name: &str| g.tensors[name].2[0];
    assert_eq!(row0("encoder.blocks.0.attn.query.weight"), 0.0);
    assert_eq!(row0("encoder.blocks.0.attn.key.weight"), D as f32);
    assert_eq!(row0("encoder.blocks.0.attn.value.weight"), 2.0 * D as f32);
    assert_eq!(
        g.tensors["decoder.blocks.0.attn.value.bias"].2,
        vec![2.0; D]
    );
    assert_eq!(row0("decoder.blocks.0.cross_attn.key.weight"), 0.0);
    assert_eq!(row0("decoder.blocks.0.cross_attn.value.weight"), D as f32);
    assert_eq!(
        g.tensors["decoder.blocks.0.cross_attn.value.bias"].2,
        vec![5.0; D]
    );
    // Element order inside a row survives.
    assert!((g.tensors["encoder.blocks.0.mlp.0.weight"].2[3] - 0.03).abs() < 1e-3);

    // Storage types follow whisper.cpp: f32 for 1-D, conv biases, positional embeddings.
    assert_eq!(g.tensors["encoder.conv1.bias"].1, 0);
    assert_eq!(g.tensors["encoder.conv1.bias"].0, vec![D, 1]);
    assert_eq!(g.tensors["encoder.conv1.weight"].1, 1);
    assert_eq!(g.tensors["encoder.positional_embedding"].1, 0);
    assert_eq!(g.tensors["decoder.ln.weight"].1, 0);
    assert_eq!(g.tensors["decoder.token_embedding.weight"].1, 1);
}

#[test]
fn refuses_a_nonzero_key_bias_and_quantized_weights() {
    let dir = tempfile::tempdir().unwrap();
    let assets = write_assets(dir.path());
    let model = dir.path().join("model.bin");

    let mut t = synthetic_model();
    let bias = t
        .iter_mut()
        .find(|x| x.0 == "encoder/layer_0/self_attention/linear_0/bias")
        .unwrap();
    bias.3[2 * D..2 * D + 2].copy_from_slice(&half::f16::from_f32(1.0).to_le_bytes());
    write_ct2(&model, &t);
    let err = convert_ct2_to_ggml(&model, &assets, &dir.path().join("o.bin")).unwrap_err();
    assert!(err.to_string().contains("key bias"), "{err}");

    let mut t = synthetic_model();
    let w = t
        .iter_mut()
        .find(|x| x.0 == "encoder/layer_0/ffn/linear_0/weight")
        .unwrap();
    w.2 = 1; // int8
    w.3.truncate(w.3.len() / 2);
    write_ct2(&model, &t);
    let err = convert_ct2_to_ggml(&model, &assets, &dir.path().join("o.bin")).unwrap_err();
    assert!(matches!(err, ConvertError::Unsupported(_)), "{err}");
    assert!(!dir.path().join("o.bin").exists(), "no output on failure");
}

#[test]
fn missing_weights_and_truncated_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let assets = write_assets(dir.path());
    let model = dir.path().join("model.bin");
    let t: Vec<_> = synthetic_model()
        .into_iter()
        .filter(|x| x.0 != "decoder/layer_0/ffn/linear_1/bias")
        .collect();
    write_ct2(&model, &t);
    let err = convert_ct2_to_ggml(&model, &assets, &dir.path().join("o.bin")).unwrap_err();
    assert!(
        err.to_string().contains("decoder.blocks.0.mlp.2.bias"),
        "{err}"
    );

    write_ct2(&model, &synthetic_model());
    let bytes = std::fs::read(&model).unwrap();
    for cut in [0, 3, 10, bytes.len() / 2, bytes.len() - 70] {
        assert!(ct2::Ct2Model::parse(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn q8_0_blocks_round_trip_within_half_a_step() {
    let values: Vec<f32> = (0..32).map(|i| ((i as f32) * 0.37).sin() * 0.8).collect();
    let block = q8_0_block(&values);
    let scale = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
    assert!((scale - 0.8 / 127.0).abs() < 1e-4, "{scale}");
    for (v, q) in values.iter().zip(&block[2..]) {
        let back = f32::from(i8::from_le_bytes([*q])) * scale;
        assert!((v - back).abs() <= scale * 0.51, "{v} {back}");
    }
    // The largest magnitude maps to ±127 exactly; an all-zero block stays zero.
    assert!(
        block[2..]
            .iter()
            .any(|q| i8::from_le_bytes([*q]).abs() == 127)
    );
    assert_eq!(q8_0_block(&[0.0; 32]), [0u8; 34]);
}

#[test]
fn q8_0_refuses_rows_that_are_not_whole_blocks() {
    let dir = tempfile::tempdir().unwrap();
    write_ct2(&dir.path().join("model.bin"), &synthetic_model());
    let assets = write_assets(dir.path());
    let out = dir.path().join("ggml.bin");
    // The synthetic model is 8 wide: no 32-value block fits a row.
    let err = convert_ct2_to_ggml_as(
        &dir.path().join("model.bin"),
        &assets,
        &out,
        WeightFormat::Q8_0,
    )
    .unwrap_err();
    assert!(
        matches!(&err, ConvertError::Unsupported(m) if m.contains("q8_0")),
        "{err}"
    );
    assert!(!out.exists());
}

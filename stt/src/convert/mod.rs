//! CTranslate2 Whisper → whisper.cpp ggml conversion.
//!
//! No registry package ships Whisper in ggml format, but several ship CTranslate2 models,
//! so the project converts them itself. CTranslate2 fuses projections that whisper.cpp
//! keeps apart: self-attention stores Q, K, V stacked in `self_attention/linear_0`, and
//! cross-attention stores K, V stacked in `attention/linear_1`. Whisper's key projections
//! have no bias, so the (zero) K slice of fused biases is dropped.

pub mod assets;
pub mod ct2;

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use ct2::{Ct2Model, Tensor};

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// An input is not what the converter expects.
    #[error("invalid model input: {0}")]
    Format(String),
    /// A valid model the converter cannot handle (e.g. quantized weights).
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ConvertError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Where the tokenizer and mel filter assets are.
#[derive(Debug, Clone)]
pub struct WhisperAssets {
    /// `mel_filters.npz`.
    pub mel_filters: PathBuf,
    /// `gpt2.tiktoken` (English-only models).
    pub gpt2_tiktoken: PathBuf,
    /// `multilingual.tiktoken`.
    pub multilingual_tiktoken: PathBuf,
}

/// whisper.cpp's model hyper-parameters, in the order of its file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hparams {
    /// Vocabulary size (≥ 51865 means multilingual).
    pub n_vocab: usize,
    /// Encoder positions (1500 for a 30 s window).
    pub n_audio_ctx: usize,
    /// Encoder width.
    pub n_audio_state: usize,
    /// Encoder attention heads.
    pub n_audio_head: usize,
    /// Encoder layers.
    pub n_audio_layer: usize,
    /// Decoder positions.
    pub n_text_ctx: usize,
    /// Decoder width.
    pub n_text_state: usize,
    /// Decoder attention heads.
    pub n_text_head: usize,
    /// Decoder layers.
    pub n_text_layer: usize,
    /// Mel bins.
    pub n_mels: usize,
}

impl Hparams {
    /// True for multilingual vocabularies.
    pub fn is_multilingual(&self) -> bool {
        self.n_vocab >= 51865
    }
}

/// A tensor as written to the ggml file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgmlTensorInfo {
    /// whisper.cpp tensor name.
    pub name: String,
    /// Dimensions, outermost first (the file stores them reversed).
    pub dims: Vec<usize>,
    /// How its values are stored.
    pub stored: Stored,
}

/// How a tensor's values are stored in the ggml file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// 32-bit floats (1-D tensors, conv biases, positional embeddings).
    F32,
    /// 16-bit floats.
    F16,
    /// ggml's `q8_0`: blocks of 32 values as one f16 scale and 32 signed bytes.
    Q8_0,
}

impl Stored {
    /// ggml's type id, as the tensor header holds it.
    fn ggml_type(self) -> usize {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q8_0 => 8,
        }
    }
}

/// The precision of the weight matrices (the 2-D projections and the token embedding).
/// The conv weights stay f16 and the rest f32 either way, as whisper.cpp expects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WeightFormat {
    /// 16-bit floats: the weights as published, give or take rounding.
    #[default]
    F16,
    /// 8-bit blocks (`q8_0`): half the memory traffic of f16 for the matrix products.
    Q8_0,
}

impl WeightFormat {
    /// whisper.cpp's `ftype` header value (ggml's `GGML_FTYPE_MOSTLY_*`).
    fn ftype(self) -> usize {
        match self {
            Self::F16 => 1,
            Self::Q8_0 => 7,
        }
    }
}

/// What a conversion produced.
#[derive(Debug, Clone)]
pub struct ConvertSummary {
    /// Header hyper-parameters.
    pub hparams: Hparams,
    /// Tensors in file order.
    pub tensors: Vec<GgmlTensorInfo>,
    /// Number of vocabulary entries written.
    pub n_tokens: usize,
}

const GGML_MAGIC: u32 = 0x6767_6d6c;

/// Converts a CTranslate2 Whisper `model.bin` into a whisper.cpp ggml file (f16 weights).
pub fn convert_ct2_to_ggml(
    model_bin: &Path,
    assets: &WhisperAssets,
    out: &Path,
) -> Result<ConvertSummary, ConvertError> {
    convert_ct2_to_ggml_as(model_bin, assets, out, WeightFormat::F16)
}

/// Converts a CTranslate2 Whisper `model.bin` into a whisper.cpp ggml file with the weight
/// matrices in `format`.
pub fn convert_ct2_to_ggml_as(
    model_bin: &Path,
    assets: &WhisperAssets,
    out: &Path,
    format: WeightFormat,
) -> Result<ConvertSummary, ConvertError> {
    let bytes = std::fs::read(model_bin).map_err(ConvertError::io(model_bin))?;
    let model = Ct2Model::parse(&bytes)?;
    drop(bytes);
    if model.spec != "WhisperSpec" {
        return Err(ConvertError::Unsupported(format!(
            "{} is a {} model, not Whisper",
            model_bin.display(),
            model.spec
        )));
    }
    let hparams = hparams_of(&model)?;
    let (n_mel, n_fft, filters) = assets::read_mel_filters(&assets.mel_filters, hparams.n_mels)?;
    let vocab_path = if hparams.is_multilingual() {
        &assets.multilingual_tiktoken
    } else {
        &assets.gpt2_tiktoken
    };
    let vocab = assets::read_tiktoken(vocab_path)?;

    let tensors = map_tensors(&model, format)?;
    check_complete(&hparams, &tensors)?;
    if let Some(t) = tensors
        .iter()
        .find(|t| t.info.stored == Stored::Q8_0 && t.info.dims[1] % Q8_0_BLOCK != 0)
    {
        return Err(ConvertError::Unsupported(format!(
            "{} has rows of {} values, which q8_0 cannot store (blocks of {Q8_0_BLOCK})",
            t.info.name, t.info.dims[1]
        )));
    }

    let mut tmp_name = out.as_os_str().to_owned();
    tmp_name.push(".partial");
    let tmp = PathBuf::from(tmp_name);
    let write = || -> std::io::Result<()> {
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut w = BufWriter::new(std::fs::File::create(&tmp)?);
        w.write_all(&GGML_MAGIC.to_le_bytes())?;
        let h = hparams;
        for v in [
            h.n_vocab,
            h.n_audio_ctx,
            h.n_audio_state,
            h.n_audio_head,
            h.n_audio_layer,
            h.n_text_ctx,
            h.n_text_state,
            h.n_text_head,
            h.n_text_layer,
            h.n_mels,
            format.ftype(),
        ] {
            write_i32(&mut w, v)?;
        }
        write_i32(&mut w, n_mel)?;
        write_i32(&mut w, n_fft)?;
        for f in &filters {
            w.write_all(&f.to_le_bytes())?;
        }
        write_i32(&mut w, vocab.len())?;
        for tok in &vocab {
            write_i32(&mut w, tok.len())?;
            w.write_all(tok)?;
        }
        for t in &tensors {
            write_i32(&mut w, t.info.dims.len())?;
            write_i32(&mut w, t.info.name.len())?;
            write_i32(&mut w, t.info.stored.ggml_type())?;
            for d in t.info.dims.iter().rev() {
                write_i32(&mut w, *d)?;
            }
            w.write_all(t.info.name.as_bytes())?;
            match t.info.stored {
                Stored::F32 => {
                    for v in &t.values {
                        w.write_all(&v.to_le_bytes())?;
                    }
                }
                Stored::F16 => {
                    for v in &t.values {
                        w.write_all(&half::f16::from_f32(*v).to_le_bytes())?;
                    }
                }
                Stored::Q8_0 => {
                    for block in t.values.chunks(Q8_0_BLOCK) {
                        w.write_all(&q8_0_block(block))?;
                    }
                }
            }
        }
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, out)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(ConvertError::Io {
            path: out.to_owned(),
            source: e,
        });
    }
    Ok(ConvertSummary {
        hparams,
        tensors: tensors.into_iter().map(|t| t.info).collect(),
        n_tokens: vocab.len(),
    })
}

/// Values per `q8_0` block.
const Q8_0_BLOCK: usize = 32;

/// One `q8_0` block as ggml's reference quantizer writes it: the scale `max|x| / 127` as
/// f16, then each value divided by it and rounded to the nearest byte.
fn q8_0_block(values: &[f32]) -> [u8; 2 + Q8_0_BLOCK] {
    let amax = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = amax / 127.0;
    let inverse = if scale == 0.0 { 0.0 } else { 1.0 / scale };
    let mut out = [0u8; 2 + Q8_0_BLOCK];
    out[..2].copy_from_slice(&half::f16::from_f32(scale).to_le_bytes());
    for (byte, v) in out[2..].iter_mut().zip(values) {
        // In -127..=127 by construction; the cast saturates either way.
        *byte = ((v * inverse).round() as i8).to_le_bytes()[0];
    }
    out
}

fn write_i32(w: &mut impl Write, v: usize) -> std::io::Result<()> {
    let v = i32::try_from(v).map_err(|_| std::io::Error::other("value exceeds i32"))?;
    w.write_all(&v.to_le_bytes())
}

/// Derives the header from tensor shapes and the stored head counts.
fn hparams_of(model: &Ct2Model) -> Result<Hparams, ConvertError> {
    let dims2 = |name: &str| -> Result<(usize, usize), ConvertError> {
        match model.get(name)?.dims[..] {
            [a, b] => Ok((a, b)),
            _ => Err(ConvertError::Format(format!("{name} is not 2-D"))),
        }
    };
    let heads = |name: &str| -> Result<usize, ConvertError> {
        model
            .get(name)?
            .scalar_int()
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| ConvertError::Format(format!("{name} is not a count")))
    };
    let layers = |prefix: &str| {
        (0..)
            .take_while(|i| {
                let p = format!("{prefix}/layer_{i}/");
                model.tensors.iter().any(|t| t.name.starts_with(&p))
            })
            .count()
    };
    let (n_vocab, n_text_state) = dims2("decoder/embeddings/weight")?;
    let (n_audio_ctx, n_audio_state) = dims2("encoder/position_encodings/encodings")?;
    let (n_text_ctx, _) = dims2("decoder/position_encodings/encodings")?;
    let conv1 = model.get("encoder/conv1/weight")?;
    let n_mels = *conv1
        .dims
        .get(1)
        .ok_or_else(|| ConvertError::Format("encoder/conv1/weight is not 3-D".into()))?;
    Ok(Hparams {
        n_vocab,
        n_audio_ctx,
        n_audio_state,
        n_audio_head: heads("encoder/num_heads")?,
        n_audio_layer: layers("encoder"),
        n_text_ctx,
        n_text_state,
        n_text_head: heads("decoder/num_heads")?,
        n_text_layer: layers("decoder"),
        n_mels,
    })
}

struct OutTensor {
    info: GgmlTensorInfo,
    values: Vec<f32>,
}

/// How one CTranslate2 tensor becomes whisper.cpp tensors.
enum Mapping {
    /// Same data under a new name.
    Rename(String),
    /// Stacked projections along rows: one name per slice; `None` drops the slice (the
    /// key bias, which whisper does not have).
    Split(Vec<Option<String>>),
    /// Not a weight (flags such as `num_heads`, `activation`).
    Skip,
}

fn mapping(name: &str, t: &Tensor) -> Result<Mapping, ConvertError> {
    use Mapping::{Rename, Skip, Split};
    let direct = match name {
        "encoder/conv1/weight" => Some("encoder.conv1.weight"),
        "encoder/conv1/bias" => Some("encoder.conv1.bias"),
        "encoder/conv2/weight" => Some("encoder.conv2.weight"),
        "encoder/conv2/bias" => Some("encoder.conv2.bias"),
        "encoder/position_encodings/encodings" => Some("encoder.positional_embedding"),
        "encoder/layer_norm/gamma" => Some("encoder.ln_post.weight"),
        "encoder/layer_norm/beta" => Some("encoder.ln_post.bias"),
        "decoder/embeddings/weight" => Some("decoder.token_embedding.weight"),
        "decoder/position_encodings/encodings" => Some("decoder.positional_embedding"),
        "decoder/layer_norm/gamma" => Some("decoder.ln.weight"),
        "decoder/layer_norm/beta" => Some("decoder.ln.bias"),
        _ => None,
    };
    if let Some(d) = direct {
        return Ok(Rename(d.to_owned()));
    }
    let parts: Vec<&str> = name.split('/').collect();
    let unknown = || -> Result<Mapping, ConvertError> {
        // Integer and scalar entries are configuration, not weights.
        if !matches!(
            t.dtype,
            ct2::DType::F32 | ct2::DType::F16 | ct2::DType::BF16
        ) || t.dims.is_empty()
        {
            Ok(Skip)
        } else {
            Err(ConvertError::Format(format!("unexpected tensor {name}")))
        }
    };
    let [stack, layer, block, module, param] = parts[..] else {
        return unknown();
    };
    let Some(i) = layer
        .strip_prefix("layer_")
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return unknown();
    };
    let param = match param {
        "weight" | "gamma" => "weight",
        "bias" | "beta" => "bias",
        _ => return unknown(),
    };
    let base = format!("{stack}.blocks.{i}");
    let n = |s: &str| Some(format!("{base}.{s}.{param}"));
    let is_bias = param == "bias";
    Ok(match (stack, block, module) {
        (_, "self_attention", "layer_norm") => Rename(format!("{base}.attn_ln.{param}")),
        (_, "self_attention", "linear_0") => Split(vec![
            n("attn.query"),
            if is_bias { None } else { n("attn.key") },
            n("attn.value"),
        ]),
        (_, "self_attention", "linear_1") => Rename(format!("{base}.attn.out.{param}")),
        ("decoder", "attention", "layer_norm") => Rename(format!("{base}.cross_attn_ln.{param}")),
        ("decoder", "attention", "linear_0") => Rename(format!("{base}.cross_attn.query.{param}")),
        ("decoder", "attention", "linear_1") => Split(vec![
            if is_bias { None } else { n("cross_attn.key") },
            n("cross_attn.value"),
        ]),
        ("decoder", "attention", "linear_2") => Rename(format!("{base}.cross_attn.out.{param}")),
        (_, "ffn", "layer_norm") => Rename(format!("{base}.mlp_ln.{param}")),
        (_, "ffn", "linear_0") => Rename(format!("{base}.mlp.0.{param}")),
        (_, "ffn", "linear_1") => Rename(format!("{base}.mlp.2.{param}")),
        _ => return unknown(),
    })
}

/// whisper.cpp keeps 1-D tensors, conv biases and positional embeddings in f32, the conv
/// weights in f16, and the 2-D weight matrices in the model's weight type.
fn stored_as(name: &str, dims: &[usize], format: WeightFormat) -> Stored {
    let kept_f32 = dims.len() < 2
        || name.ends_with("positional_embedding")
        || name.ends_with("conv1.bias")
        || name.ends_with("conv2.bias");
    match (kept_f32, dims.len(), format) {
        (true, _, _) => Stored::F32,
        // Every row length of these models (the widths 384..1280) is a multiple of 32.
        (false, 2, WeightFormat::Q8_0) => Stored::Q8_0,
        _ => Stored::F16,
    }
}

fn map_tensors(model: &Ct2Model, format: WeightFormat) -> Result<Vec<OutTensor>, ConvertError> {
    let mut out = Vec::new();
    for t in &model.tensors {
        let push =
            |out: &mut Vec<OutTensor>, name: String, mut dims: Vec<usize>, values: Vec<f32>| {
                if name.ends_with("conv1.bias") || name.ends_with("conv2.bias") {
                    dims.push(1); // whisper.cpp wants conv biases as [n, 1]
                }
                let stored = stored_as(&name, &dims, format);
                out.push(OutTensor {
                    info: GgmlTensorInfo { name, dims, stored },
                    values,
                });
            };
        match mapping(&t.name, t)? {
            Mapping::Skip => {}
            Mapping::Rename(name) => push(&mut out, name, t.dims.clone(), t.to_f32()?),
            Mapping::Split(names) => {
                let values = t.to_f32()?;
                let rows = t.dims[0];
                if rows % names.len() != 0 {
                    return Err(ConvertError::Format(format!(
                        "{} has {rows} rows, not divisible into {} projections",
                        t.name,
                        names.len()
                    )));
                }
                let part_rows = rows / names.len();
                let row_len: usize = t.dims[1..].iter().product();
                for (k, name) in names.into_iter().enumerate() {
                    let slice = &values[k * part_rows * row_len..(k + 1) * part_rows * row_len];
                    match name {
                        Some(name) => {
                            let mut dims = t.dims.clone();
                            dims[0] = part_rows;
                            push(&mut out, name, dims, slice.to_vec());
                        }
                        None if slice.iter().any(|v| *v != 0.0) => {
                            return Err(ConvertError::Unsupported(format!(
                                "{} has a non-zero key bias, which whisper.cpp cannot represent",
                                t.name
                            )));
                        }
                        None => {}
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Every tensor whisper.cpp's loader creates for these hyper-parameters, with its shape
/// (outermost first). The converter refuses to write a file that does not match exactly.
pub fn expected_tensors(h: &Hparams) -> BTreeMap<String, Vec<usize>> {
    let mut m = BTreeMap::new();
    let (a, t) = (h.n_audio_state, h.n_text_state);
    m.insert(
        "encoder.positional_embedding".into(),
        vec![h.n_audio_ctx, a],
    );
    m.insert("encoder.conv1.weight".into(), vec![a, h.n_mels, 3]);
    m.insert("encoder.conv1.bias".into(), vec![a, 1]);
    m.insert("encoder.conv2.weight".into(), vec![a, a, 3]);
    m.insert("encoder.conv2.bias".into(), vec![a, 1]);
    m.insert("encoder.ln_post.weight".into(), vec![a]);
    m.insert("encoder.ln_post.bias".into(), vec![a]);
    m.insert("decoder.positional_embedding".into(), vec![h.n_text_ctx, t]);
    m.insert("decoder.token_embedding.weight".into(), vec![h.n_vocab, t]);
    m.insert("decoder.ln.weight".into(), vec![t]);
    m.insert("decoder.ln.bias".into(), vec![t]);
    let block = |m: &mut BTreeMap<String, Vec<usize>>, prefix: String, d: usize, attns: &[&str]| {
        let norms = attns.iter().map(|a| format!("{a}_ln"));
        for ln in std::iter::once("mlp_ln".to_owned()).chain(norms) {
            m.insert(format!("{prefix}.{ln}.weight"), vec![d]);
            m.insert(format!("{prefix}.{ln}.bias"), vec![d]);
        }
        m.insert(format!("{prefix}.mlp.0.weight"), vec![4 * d, d]);
        m.insert(format!("{prefix}.mlp.0.bias"), vec![4 * d]);
        m.insert(format!("{prefix}.mlp.2.weight"), vec![d, 4 * d]);
        m.insert(format!("{prefix}.mlp.2.bias"), vec![d]);
        for attn in attns {
            for proj in ["query", "key", "value", "out"] {
                m.insert(format!("{prefix}.{attn}.{proj}.weight"), vec![d, d]);
                if proj != "key" {
                    m.insert(format!("{prefix}.{attn}.{proj}.bias"), vec![d]);
                }
            }
        }
    };
    for i in 0..h.n_audio_layer {
        block(&mut m, format!("encoder.blocks.{i}"), a, &["attn"]);
    }
    for i in 0..h.n_text_layer {
        block(
            &mut m,
            format!("decoder.blocks.{i}"),
            t,
            &["attn", "cross_attn"],
        );
    }
    m
}

fn check_complete(h: &Hparams, tensors: &[OutTensor]) -> Result<(), ConvertError> {
    let expected = expected_tensors(h);
    let mut got = BTreeMap::new();
    for t in tensors {
        if got
            .insert(t.info.name.clone(), t.info.dims.clone())
            .is_some()
        {
            return Err(ConvertError::Format(format!(
                "tensor {} appears twice",
                t.info.name
            )));
        }
    }
    for (name, dims) in &expected {
        match got.get(name) {
            None => {
                return Err(ConvertError::Format(format!(
                    "model has no weights for {name}"
                )));
            }
            Some(d) if d != dims => {
                return Err(ConvertError::Format(format!(
                    "{name} has shape {d:?}, whisper.cpp expects {dims:?}"
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = got.keys().find(|k| !expected.contains_key(*k)) {
        return Err(ConvertError::Format(format!("unexpected tensor {extra}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

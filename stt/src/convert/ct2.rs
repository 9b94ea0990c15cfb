//! Reader for CTranslate2's `model.bin`: a flat list of named tensors.
//!
//! Layout (little-endian): u32 binary version, then (version ≥ 2) the spec name and a u32
//! spec revision, a u32 tensor count, and per tensor: name, u8 rank, u32 dims[rank],
//! u8 dtype, u32 byte count, bytes. Version ≥ 3 ends with aliases (name → name). Strings
//! are a u16 length including a trailing NUL.

use super::ConvertError;

/// Element type of a stored tensor (CTranslate2's `DataType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 8-bit integer (quantized weights or flags).
    I8,
    /// 16-bit integer.
    I16,
    /// 32-bit integer.
    I32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
}

impl DType {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::BF16,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::BF16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

/// One named tensor of a CTranslate2 model.
#[derive(Debug, Clone)]
pub struct Tensor {
    /// Variable name, e.g. `encoder/layer_0/self_attention/linear_0/weight`.
    pub name: String,
    /// Dimensions, outermost first (row-major).
    pub dims: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Raw little-endian bytes.
    pub data: Vec<u8>,
}

impl Tensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// True for a tensor with no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements as f32 (floats only; integer tensors are flags, not weights).
    pub fn to_f32(&self) -> Result<Vec<f32>, ConvertError> {
        let chunks = self.data.chunks_exact(self.dtype.size());
        Ok(match self.dtype {
            DType::F32 => chunks
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F16 => chunks
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            DType::BF16 => chunks
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => {
                return Err(ConvertError::Unsupported(format!(
                    "tensor {} is {other:?}: only float (f32/f16/bf16) CTranslate2 models can be converted, not quantized ones",
                    self.name
                )));
            }
        })
    }

    /// A scalar integer (used for flags such as `num_heads`).
    pub fn scalar_int(&self) -> Option<i64> {
        let d = &self.data;
        match (self.dtype, d.len()) {
            (DType::I8, 1) => Some(i64::from(d[0] as i8)),
            (DType::I16, 2) => Some(i64::from(i16::from_le_bytes([d[0], d[1]]))),
            (DType::I32, 4) => Some(i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]]))),
            _ => None,
        }
    }
}

/// A parsed CTranslate2 model.
#[derive(Debug)]
pub struct Ct2Model {
    /// Spec name, e.g. `WhisperSpec`.
    pub spec: String,
    /// Tensors in file order.
    pub tensors: Vec<Tensor>,
}

impl Ct2Model {
    /// Parses a whole `model.bin`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConvertError> {
        let mut r = Reader { bytes, pos: 0 };
        let version = r.u32()?;
        if !(2..=6).contains(&version) {
            return Err(ConvertError::Format(format!(
                "unsupported CTranslate2 binary version {version}"
            )));
        }
        let spec = r.string()?;
        let _revision = r.u32()?;
        let count = r.u32()? as usize;
        let mut tensors = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            let name = r.string()?;
            let rank = usize::from(r.u8()?);
            let dims = (0..rank)
                .map(|_| r.u32().map(|d| d as usize))
                .collect::<Result<Vec<_>, _>>()?;
            let dtype_id = r.u8()?;
            let dtype = DType::from_id(dtype_id).ok_or_else(|| {
                ConvertError::Format(format!("tensor {name}: unknown dtype {dtype_id}"))
            })?;
            let nbytes = r.u32()? as usize;
            let expected = dims.iter().product::<usize>() * dtype.size();
            if nbytes != expected {
                return Err(ConvertError::Format(format!(
                    "tensor {name}: {nbytes} bytes for dims {dims:?} of {dtype:?}"
                )));
            }
            let data = r.take(nbytes)?.to_vec();
            tensors.push(Tensor {
                name,
                dims,
                dtype,
                data,
            });
        }
        Ok(Self { spec, tensors })
    }

    /// The tensor with this name.
    pub fn get(&self, name: &str) -> Result<&Tensor, ConvertError> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| ConvertError::Format(format!("model has no tensor {name}")))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ConvertError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| ConvertError::Format("model.bin is truncated".into()))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, ConvertError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ConvertError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, ConvertError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Result<String, ConvertError> {
        let n = usize::from(self.u16()?);
        let b = self.take(n)?;
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        String::from_utf8(b.to_vec())
            .map_err(|_| ConvertError::Format("a tensor name is not UTF-8".into()))
    }
}

//! The forward pass of a BERT-style encoder (post-norm, GELU, absolute
//! positions), enough for MiniLM sentence encoders, on `ndarray` matrices.
//!
//! Texts are encoded in batches without padding: the dense layers run on all
//! the batch's tokens stacked into one matrix (one large matrix product
//! instead of many small ones), and attention runs per text on its own rows.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{Array1, Array2, ArrayView2, Axis, s};
use serde::Deserialize;

use crate::error::{Error, Result};

/// The parts of a Hugging Face `config.json` the forward pass needs.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct BertConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub vocab_size: usize,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f32,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
}

fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f32 {
    1e-12
}
fn default_hidden_act() -> String {
    "gelu".into()
}

struct Linear {
    /// Input × output (the transpose of PyTorch's layout), so `x.dot(&w)`.
    weight: Array2<f32>,
    bias: Array1<f32>,
}

impl Linear {
    fn apply(&self, input: ArrayView2<'_, f32>) -> Array2<f32> {
        let mut output = input.dot(&self.weight);
        output += &self.bias;
        output
    }
}

struct LayerNorm {
    weight: Array1<f32>,
    bias: Array1<f32>,
    eps: f32,
}

impl LayerNorm {
    fn apply_in_place(&self, x: &mut Array2<f32>) {
        let width = x.ncols() as f32;
        for mut row in x.rows_mut() {
            let mean = row.sum() / width;
            let variance = row.iter().map(|value| (value - mean) * (value - mean)).sum::<f32>() / width;
            let inverse = 1.0 / (variance + self.eps).sqrt();
            for ((value, weight), bias) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
                *value = (*value - mean) * inverse * weight + bias;
            }
        }
    }
}

struct Layer {
    /// Query, key and value projections side by side: hidden × 3·hidden.
    qkv: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

pub(crate) struct Bert {
    pub config: BertConfig,
    word_embeddings: Array2<f32>,
    position_embeddings: Array2<f32>,
    token_type_embedding: Array1<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

/// The tensors of a `.safetensors` file, by name: shape and `f32` values.
struct Tensors {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

#[derive(Deserialize)]
struct TensorInfo {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

impl Tensors {
    /// Reads the safetensors format: an 8-byte little-endian header length,
    /// a JSON header naming each tensor's type, shape and byte range, then
    /// the data. Only `F32` tensors are read; others (position id buffers)
    /// are skipped.
    fn parse(bytes: &[u8]) -> Result<Tensors> {
        let corrupt = |what: String| Error::Corrupt(format!("encoder weights: {what}"));
        let header_len = bytes
            .get(..8)
            .map(|raw| u64::from_le_bytes(raw.try_into().expect("8 bytes")) as usize)
            .ok_or_else(|| corrupt("shorter than its header".into()))?;
        let data_start = 8usize.checked_add(header_len).filter(|&end| end <= bytes.len());
        let data_start = data_start.ok_or_else(|| corrupt("header runs past the end".into()))?;
        let header: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..data_start]).map_err(|error| corrupt(format!("header: {error}")))?;
        let data = &bytes[data_start..];
        let mut tensors = BTreeMap::new();
        for (name, value) in header {
            if name == "__metadata__" {
                continue;
            }
            let info: TensorInfo =
                serde_json::from_value(value).map_err(|error| corrupt(format!("tensor {name}: {error}")))?;
            if info.dtype != "F32" {
                continue;
            }
            let (start, end) = info.data_offsets;
            let expected = info.shape.iter().product::<usize>() * 4;
            if start > end || end > data.len() || end - start != expected {
                return Err(corrupt(format!("tensor {name}: byte range {start}..{end} does not fit {:?}", info.shape)));
            }
            let values = data[start..end]
                .chunks_exact(4)
                .map(|raw| f32::from_le_bytes(raw.try_into().expect("4 bytes")))
                .collect();
            tensors.insert(name, (info.shape, values));
        }
        Ok(Tensors { tensors })
    }

    /// A tensor by name, with or without the `bert.` prefix some exports add.
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let entry = match self.tensors.remove(name) {
            Some(entry) => entry,
            None => self
                .tensors
                .remove(&format!("bert.{name}"))
                .ok_or_else(|| Error::Corrupt(format!("encoder weights: no tensor {name}")))?,
        };
        if entry.0 != shape {
            return Err(Error::Corrupt(format!("encoder weights: {name} has shape {:?}, expected {shape:?}", entry.0)));
        }
        Ok(entry.1)
    }

    fn matrix(&mut self, name: &str, rows: usize, columns: usize) -> Result<Array2<f32>> {
        Ok(Array2::from_shape_vec((rows, columns), self.take(name, &[rows, columns])?).expect("shape checked"))
    }

    fn vector(&mut self, name: &str, length: usize) -> Result<Array1<f32>> {
        Ok(Array1::from_vec(self.take(name, &[length])?))
    }

    /// A PyTorch `nn.Linear` (`out × in` weight), transposed for `x.dot(w)`.
    fn linear(&mut self, prefix: &str, inputs: usize, outputs: usize) -> Result<Linear> {
        Ok(Linear {
            weight: self
                .matrix(&format!("{prefix}.weight"), outputs, inputs)?
                .reversed_axes()
                .as_standard_layout()
                .to_owned(),
            bias: self.vector(&format!("{prefix}.bias"), outputs)?,
        })
    }

    fn layer_norm(&mut self, prefix: &str, width: usize, eps: f32) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: self.vector(&format!("{prefix}.weight"), width)?,
            bias: self.vector(&format!("{prefix}.bias"), width)?,
            eps,
        })
    }
}

impl Bert {
    pub(crate) fn load(config: BertConfig, weights_path: &Path, bytes: &[u8]) -> Result<Bert> {
        let hidden = config.hidden_size;
        if config.hidden_act != "gelu" {
            return Err(Error::InvalidOptions(format!(
                "{}: activation {:?} is not supported (only gelu)",
                weights_path.display(),
                config.hidden_act
            )));
        }
        if hidden == 0 || config.num_attention_heads == 0 || !hidden.is_multiple_of(config.num_attention_heads) {
            return Err(Error::Corrupt(format!(
                "encoder config: hidden size {hidden} is not a multiple of {} heads",
                config.num_attention_heads
            )));
        }
        let mut tensors = Tensors::parse(bytes)?;
        let eps = config.layer_norm_eps;
        let word_embeddings = tensors.matrix("embeddings.word_embeddings.weight", config.vocab_size, hidden)?;
        let position_embeddings =
            tensors.matrix("embeddings.position_embeddings.weight", config.max_position_embeddings, hidden)?;
        let token_types = tensors.matrix("embeddings.token_type_embeddings.weight", config.type_vocab_size, hidden)?;
        let embedding_norm = tensors.layer_norm("embeddings.LayerNorm", hidden, eps)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for index in 0..config.num_hidden_layers {
            let prefix = format!("encoder.layer.{index}");
            let query = tensors.linear(&format!("{prefix}.attention.self.query"), hidden, hidden)?;
            let key = tensors.linear(&format!("{prefix}.attention.self.key"), hidden, hidden)?;
            let value = tensors.linear(&format!("{prefix}.attention.self.value"), hidden, hidden)?;
            let qkv = Linear {
                weight: ndarray::concatenate(Axis(1), &[query.weight.view(), key.weight.view(), value.weight.view()])
                    .expect("same row count"),
                bias: ndarray::concatenate(Axis(0), &[query.bias.view(), key.bias.view(), value.bias.view()])
                    .expect("vectors"),
            };
            layers.push(Layer {
                qkv,
                attention_output: tensors.linear(&format!("{prefix}.attention.output.dense"), hidden, hidden)?,
                attention_norm: tensors.layer_norm(&format!("{prefix}.attention.output.LayerNorm"), hidden, eps)?,
                intermediate: tensors.linear(
                    &format!("{prefix}.intermediate.dense"),
                    hidden,
                    config.intermediate_size,
                )?,
                output: tensors.linear(&format!("{prefix}.output.dense"), config.intermediate_size, hidden)?,
                output_norm: tensors.layer_norm(&format!("{prefix}.output.LayerNorm"), hidden, eps)?,
            });
        }
        Ok(Bert {
            token_type_embedding: token_types.row(0).to_owned(),
            config,
            word_embeddings,
            position_embeddings,
            embedding_norm,
            layers,
        })
    }

    pub(crate) fn max_tokens(&self) -> usize {
        self.config.max_position_embeddings
    }

    /// Mean-pooled, unit-length sentence embeddings of token id sequences
    /// (each already `[CLS] … [SEP]` and within [`Bert::max_tokens`]).
    pub(crate) fn embed(&self, sequences: &[Vec<u32>]) -> Array2<f32> {
        let hidden = self.config.hidden_size;
        let total: usize = sequences.iter().map(Vec::len).sum();
        let mut x = Array2::<f32>::zeros((total, hidden));
        let mut spans = Vec::with_capacity(sequences.len());
        let mut row = 0;
        for ids in sequences {
            spans.push((row, ids.len()));
            for (position, &id) in ids.iter().enumerate() {
                let id = (id as usize).min(self.config.vocab_size - 1);
                let mut target = x.row_mut(row);
                target.assign(&self.word_embeddings.row(id));
                target += &self.position_embeddings.row(position.min(self.config.max_position_embeddings - 1));
                target += &self.token_type_embedding;
                row += 1;
            }
        }
        self.embedding_norm.apply_in_place(&mut x);

        let heads = self.config.num_attention_heads;
        let head_width = hidden / heads;
        let scale = 1.0 / (head_width as f32).sqrt();
        let mut context = Array2::<f32>::zeros((total, hidden));
        for layer in &self.layers {
            let qkv = layer.qkv.apply(x.view());
            for &(start, length) in &spans {
                for head in 0..heads {
                    let columns = head * head_width..(head + 1) * head_width;
                    let query = qkv.slice(s![start..start + length, columns.clone()]);
                    let key = qkv.slice(s![start..start + length, hidden + columns.start..hidden + columns.end]);
                    let value =
                        qkv.slice(s![start..start + length, 2 * hidden + columns.start..2 * hidden + columns.end]);
                    let mut scores = query.dot(&key.t());
                    for mut row in scores.rows_mut() {
                        let max = row.iter().fold(f32::NEG_INFINITY, |max, &value| max.max(value));
                        let mut sum = 0.0;
                        for value in row.iter_mut() {
                            *value = ((*value - max) * scale).exp();
                            sum += *value;
                        }
                        row /= sum;
                    }
                    context.slice_mut(s![start..start + length, columns]).assign(&scores.dot(&value));
                }
            }
            let mut attended = layer.attention_output.apply(context.view());
            attended += &x;
            layer.attention_norm.apply_in_place(&mut attended);
            let mut intermediate = layer.intermediate.apply(attended.view());
            intermediate.mapv_inplace(gelu);
            let mut output = layer.output.apply(intermediate.view());
            output += &attended;
            layer.output_norm.apply_in_place(&mut output);
            x = output;
        }

        let mut pooled = Array2::<f32>::zeros((sequences.len(), hidden));
        for (index, &(start, length)) in spans.iter().enumerate() {
            let mut target = pooled.row_mut(index);
            if length > 0 {
                target.assign(&x.slice(s![start..start + length, ..]).mean_axis(Axis(0)).expect("non-empty"));
            }
            let norm = target.dot(&target).sqrt();
            if norm > 0.0 {
                target /= norm;
            }
        }
        pooled
    }
}

/// GELU with the error function, as BERT's `gelu` activation (not its
/// tanh approximation).
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// The error function to within 6e-7 (Abramowitz and Stegun's 7.1.26, a
/// polynomial in 1 / (1 + p|x|) times e^(-x²), is within 1.5e-7 in exact
/// arithmetic; `f32` rounding adds the rest). GELU computes it for every intermediate value of every
/// layer: a sixth of a forward pass's time went to `libm::erff`'s branches.
fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_8, -1.453_152_1, 1.061_405_4];
    let magnitude = x.abs();
    let t = 1.0 / (1.0 + P * magnitude);
    let polynomial = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let value = 1.0 - polynomial * (-magnitude * magnitude).exp();
    value.copysign(x)
}

#[cfg(test)]
mod tests {
    #[test]
    fn erf_is_libm_erff_to_within_a_millionth() {
        let mut worst: f32 = 0.0;
        for step in -80_000..=80_000 {
            let x = step as f32 * 1e-4;
            worst = worst.max((super::erf(x) - libm::erff(x)).abs());
        }
        assert!(worst < 1e-6, "largest difference {worst}");
        assert_eq!((super::erf(f32::INFINITY), super::erf(f32::NEG_INFINITY)), (1.0, -1.0));
    }
}

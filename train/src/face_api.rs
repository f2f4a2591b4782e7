//! Weights of dlib's face-recognition ResNet in face-api.js's TF.js format: a JSON manifest
//! (`face_recognition_model-weights_manifest.json`: each tensor's name, shape and uint8
//! quantisation, `value = min + q * scale`) and the binary it names
//! (`face_recognition_model.bin`, the tensors' bytes in manifest order).
//!
//! Each of face-api's convolution layers is a convolution with bias followed by a per-channel
//! scale layer (`x * weights + biases`: dlib's frozen batch norm); both are folded into one
//! convolution here. TF.js filters are `[kh, kw, in, out]`, burn's `[out, in, kh, kw]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use serde::Deserialize;

use crate::error::{Error, IoContext, Result};
use crate::model::FaceResNet;

/// Names of the residual blocks, in the network's order.
pub const BLOCK_NAMES: [&str; 14] = [
    "conv32_1",
    "conv32_2",
    "conv32_3",
    "conv64_down",
    "conv64_1",
    "conv64_2",
    "conv64_3",
    "conv128_down",
    "conv128_1",
    "conv128_2",
    "conv256_down",
    "conv256_1",
    "conv256_2",
    "conv256_down_out",
];

#[derive(Debug, Deserialize)]
struct Group {
    paths: Vec<String>,
    weights: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    quantization: Option<Quantization>,
}

#[derive(Debug, Deserialize)]
struct Quantization {
    dtype: String,
    scale: f32,
    min: f32,
}

/// A tensor of the file: its shape and values (dequantised).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// TF.js shape.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// Every tensor of a TF.js weights manifest and its binary files, by name.
#[derive(Debug, Clone)]
pub struct WeightMap {
    /// The manifest.
    pub path: PathBuf,
    /// The tensors.
    pub tensors: BTreeMap<String, NamedTensor>,
}

fn malformed(path: &Path, reason: impl Into<String>) -> Error {
    Error::Malformed {
        path: path.to_path_buf(),
        line: None,
        reason: reason.into(),
    }
}

impl WeightMap {
    /// Reads a manifest (`*-weights_manifest.json`) and the binary files it names, which sit
    /// next to it. uint8 and uint16 quantised and float32 tensors are read.
    pub fn read(manifest: &Path) -> Result<WeightMap> {
        let text = std::fs::read_to_string(manifest).at(manifest)?;
        let groups: Vec<Group> = serde_json::from_str(&text).map_err(|e| Error::Malformed {
            path: manifest.to_path_buf(),
            line: Some(e.line() as u64),
            reason: format!("not a TF.js weights manifest: {e}"),
        })?;
        let dir = manifest.parent().unwrap_or(Path::new("."));
        let mut tensors = BTreeMap::new();
        for group in &groups {
            let mut bytes = Vec::new();
            for name in &group.paths {
                let path = dir.join(name);
                bytes.extend(std::fs::read(&path).at(&path)?);
            }
            let mut at = 0usize;
            for entry in &group.weights {
                let count: usize = entry.shape.iter().product();
                let (width, quant) = match &entry.quantization {
                    Some(q) if q.dtype == "uint8" => (1, Some(q)),
                    Some(q) if q.dtype == "uint16" => (2, Some(q)),
                    Some(q) => {
                        return Err(malformed(
                            manifest,
                            format!("{}: unsupported quantisation {}", entry.name, q.dtype),
                        ));
                    }
                    None if entry.dtype == "float32" => (4, None),
                    None => {
                        return Err(malformed(
                            manifest,
                            format!("{}: unsupported dtype {}", entry.name, entry.dtype),
                        ));
                    }
                };
                let end = at + count * width;
                let Some(raw) = bytes.get(at..end) else {
                    return Err(malformed(
                        manifest,
                        format!(
                            "{}: the binary files end at byte {} but this tensor needs bytes {at}..{end}",
                            entry.name,
                            bytes.len()
                        ),
                    ));
                };
                let values: Vec<f32> = match quant {
                    Some(q) if width == 1 => raw.iter().map(|&b| q.min + q.scale * f32::from(b)).collect(),
                    Some(q) => raw
                        .chunks_exact(2)
                        .map(|c| q.min + q.scale * f32::from(u16::from_le_bytes([c[0], c[1]])))
                        .collect(),
                    None => raw
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                };
                at = end;
                tensors.insert(
                    entry.name.clone(),
                    NamedTensor {
                        shape: entry.shape.clone(),
                        values,
                    },
                );
            }
            if at != bytes.len() {
                return Err(malformed(
                    manifest,
                    format!(
                        "the binary files hold {} bytes, the manifest describes {at}",
                        bytes.len()
                    ),
                ));
            }
        }
        Ok(WeightMap {
            path: manifest.to_path_buf(),
            tensors,
        })
    }

    fn take(&self, used: &mut Vec<String>, name: &str, shape: &[usize]) -> Result<&[f32]> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| malformed(&self.path, format!("no tensor {name}")))?;
        if t.shape != shape {
            return Err(malformed(
                &self.path,
                format!("{name} has shape {:?}, the network needs {shape:?}", t.shape),
            ));
        }
        used.push(name.to_string());
        Ok(&t.values)
    }

    /// One convolution layer (`{prefix}/conv/filters`, `/conv/bias`, `/scale/weights`,
    /// `/scale/biases`) folded into `conv`. A grey network (`in` 1) takes the sum of the RGB
    /// filters.
    fn load_conv(&self, used: &mut Vec<String>, conv: Conv2d, prefix: &str) -> Result<Conv2d> {
        let [c_out, c_in, kh, kw] = conv.weight.dims();
        let file_in = if c_in == 1 { 3 } else { c_in };
        let filters = self.take(used, &format!("{prefix}/conv/filters"), &[kh, kw, file_in, c_out])?;
        let bias = self.take(used, &format!("{prefix}/conv/bias"), &[c_out])?;
        let scale = self.take(used, &format!("{prefix}/scale/weights"), &[c_out])?;
        let shift = self.take(used, &format!("{prefix}/scale/biases"), &[c_out])?;
        let mut weight = vec![0.0f32; c_out * c_in * kh * kw];
        for y in 0..kh {
            for x in 0..kw {
                for i in 0..file_in {
                    for o in 0..c_out {
                        let v = filters[((y * kw + x) * file_in + i) * c_out + o] * scale[o];
                        let i = if c_in == 1 { 0 } else { i };
                        weight[((o * c_in + i) * kh + y) * kw + x] += v;
                    }
                }
            }
        }
        let folded_bias: Vec<f32> = (0..c_out).map(|o| bias[o] * scale[o] + shift[o]).collect();
        let device = conv.weight.device();
        let mut conv = conv;
        conv.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(weight, [c_out, c_in, kh, kw]),
            &device,
        ));
        conv.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(folded_bias, [c_out]),
            &device,
        )));
        Ok(conv)
    }

    fn load_fc(&self, used: &mut Vec<String>, fc: Linear) -> Result<Linear> {
        let [d_in, d_out] = fc.weight.dims();
        let values = self.take(used, "fc", &[d_in, d_out])?;
        let device = fc.weight.device();
        let mut fc = fc;
        // TF.js `matMul(x, fc)` with fc `[256, 128]`: burn's Linear weight is `[in, out]` too.
        fc.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(values.to_vec(), [d_in, d_out]),
            &device,
        ));
        Ok(fc)
    }

    /// Loads every layer of `net` from the file. Errors name the tensor that is missing or has
    /// the wrong shape; tensors of the file that the network has no place for are returned.
    pub fn load_into(&self, net: FaceResNet) -> Result<(FaceResNet, Vec<String>)> {
        let mut used = Vec::new();
        let mut net = net;
        net.stem = self.load_conv(&mut used, net.stem, "conv32_down")?;
        let mut blocks = Vec::with_capacity(net.blocks.len());
        for (block, name) in net.blocks.into_iter().zip(BLOCK_NAMES) {
            let mut block = block;
            block.conv1 = self.load_conv(&mut used, block.conv1, &format!("{name}/conv1"))?;
            block.conv2 = self.load_conv(&mut used, block.conv2, &format!("{name}/conv2"))?;
            blocks.push(block);
        }
        net.blocks = blocks;
        net.fc = self.load_fc(&mut used, net.fc)?;
        let unused = self.tensors.keys().filter(|k| !used.contains(k)).cloned().collect();
        Ok((net, unused))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FaceResNetConfig;

    fn write_manifest(dir: &Path, entries: &str, bin: &[u8]) -> PathBuf {
        let manifest = dir.join("m-weights_manifest.json");
        std::fs::write(
            &manifest,
            format!(r#"[{{"paths": ["m.bin"], "weights": [{entries}]}}]"#),
        )
        .unwrap();
        std::fs::write(dir.join("m.bin"), bin).unwrap();
        manifest
    }

    #[test]
    fn quantised_and_float_tensors_read_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut bin = vec![0u8, 2, 4];
        bin.extend(1.5f32.to_le_bytes());
        let manifest = write_manifest(
            dir.path(),
            r#"{"name": "a", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
               {"name": "b", "shape": [1], "dtype": "float32"}"#,
            &bin,
        );
        let map = WeightMap::read(&manifest).unwrap();
        assert_eq!(map.tensors["a"].values, vec![-1.0, 0.0, 1.0]);
        assert_eq!(map.tensors["b"].values, vec![1.5]);

        // A binary shorter than the manifest says.
        let manifest = write_manifest(
            dir.path(),
            r#"{"name": "a", "shape": [8], "dtype": "float32"}"#,
            &[0u8; 4],
        );
        let err = WeightMap::read(&manifest).unwrap_err().to_string();
        assert!(err.contains("m-weights_manifest.json") && err.contains("a:"), "{err}");
        std::fs::write(&manifest, "{not json").unwrap();
        let err = WeightMap::read(&manifest).unwrap_err().to_string();
        assert!(err.contains("not a TF.js weights manifest"), "{err}");
    }

    #[test]
    fn a_missing_or_misshapen_tensor_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = write_manifest(
            dir.path(),
            r#"{"name": "conv32_down/conv/filters", "shape": [3, 3, 3, 32], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 1.0, "min": 0.0}}"#,
            &[0u8; 3 * 3 * 3 * 32],
        );
        let map = WeightMap::read(&manifest).unwrap();
        let net = FaceResNetConfig::new().init(&Device::flex());
        let err = map.load_into(net).unwrap_err().to_string();
        assert!(
            err.contains("conv32_down/conv/filters") && err.contains("[7, 7, 3, 32]"),
            "{err}"
        );
    }
}

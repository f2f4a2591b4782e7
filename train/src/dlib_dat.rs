//! dlib's own file of its face-recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`,
//! CC0): the full-precision weights that face-api.js quantised to 8 bits.
//!
//! dlib serialises a network layer by layer from the input up, each layer as a version string
//! (`con_4`, `affine_`, `fc_2`, ...) and its fields: integers packed as a byte holding their
//! length (and a sign bit) followed by that many little-endian bytes, tensors as a version, four
//! packed dimensions and little-endian `f32` values. Only the layers with weights are read: the
//! 29 convolutions (filters `[out, in, kh, kw]` then biases), the 29 affine layers after them
//! (dlib's frozen batch norms: scales then shifts) and the descriptor's `fc` (`[256, 128]`).
//! They are returned under face-api.js's tensor names and layouts, so that
//! [`WeightMap::load_into`] loads either file the same way.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, IoContext, Result};
use crate::face_api::{BLOCK_NAMES, NamedTensor, WeightMap};

/// Whether `bytes` start like a serialised dlib network with a metric loss (the face descriptor).
pub fn looks_like_dlib(bytes: &[u8]) -> bool {
    bytes.len() > 32
        && bytes[..32]
            .windows(13)
            .any(|w| w == b"loss_metric_2" || w == b"loss_metric_1")
}

/// A convolution or affine layer's weights, in the file's order.
enum Layer {
    Conv { filters: NamedTensor, bias: NamedTensor },
    Affine { scale: NamedTensor, shift: NamedTensor },
    Fc(NamedTensor),
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    /// dlib's packed integer.
    fn int(&mut self) -> Option<i64> {
        let head = self.byte()?;
        let (size, negative) = (usize::from(head & 0x0F), head & 0x80 != 0);
        if size == 0 || size > 8 {
            return None;
        }
        let mut value: u64 = 0;
        for i in 0..size {
            value |= u64::from(self.byte()?) << (8 * i);
        }
        let value = i64::try_from(value).ok()?;
        Some(if negative { -value } else { value })
    }

    fn dims(&mut self) -> Option<[usize; 4]> {
        let mut dims = [0usize; 4];
        for d in &mut dims {
            *d = usize::try_from(self.int()?).ok()?;
        }
        Some(dims)
    }

    /// A tensor's dimensions and values (version 2).
    fn tensor(&mut self) -> Option<([usize; 4], Vec<f32>)> {
        if self.int()? != 2 {
            return None;
        }
        let dims = self.dims()?;
        let count = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))?;
        let end = self.at.checked_add(count.checked_mul(4)?)?;
        let raw = self.bytes.get(self.at..end)?;
        self.at = end;
        Some((
            dims,
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ))
    }

    /// An alias tensor's dimensions (version 1).
    fn alias(&mut self) -> Option<[usize; 4]> {
        if self.int()? != 1 {
            return None;
        }
        self.dims()
    }

    /// `con_4`/`con_5`/`con_6` after its name: filters and biases.
    fn conv(&mut self) -> Option<Layer> {
        let (_, params) = self.tensor()?;
        let _num_filters = self.int()?;
        for _ in 0..6 {
            self.int()?; // nr, nc, strides, paddings
        }
        let [out, inputs, kh, kw] = self.alias()?;
        let bias_dims = self.alias()?;
        if params.len() != out * inputs * kh * kw + out || bias_dims.iter().product::<usize>() != out {
            return None;
        }
        // dlib's [out, in, kh, kw] to TF.js's [kh, kw, in, out].
        let mut filters = vec![0.0f32; out * inputs * kh * kw];
        for o in 0..out {
            for i in 0..inputs {
                for y in 0..kh {
                    for x in 0..kw {
                        filters[((y * kw + x) * inputs + i) * out + o] = params[((o * inputs + i) * kh + y) * kw + x];
                    }
                }
            }
        }
        Some(Layer::Conv {
            filters: NamedTensor {
                shape: vec![kh, kw, inputs, out],
                values: filters,
            },
            bias: NamedTensor {
                shape: vec![out],
                values: params[out * inputs * kh * kw..].to_vec(),
            },
        })
    }

    /// `affine_`/`affine_2` after its name: per-channel scales and shifts.
    fn affine(&mut self) -> Option<Layer> {
        let (_, params) = self.tensor()?;
        let gamma = self.alias()?;
        let _beta = self.alias()?;
        let k = gamma.iter().product::<usize>();
        if params.len() != 2 * k {
            return None;
        }
        Some(Layer::Affine {
            scale: NamedTensor {
                shape: vec![k],
                values: params[..k].to_vec(),
            },
            shift: NamedTensor {
                shape: vec![k],
                values: params[k..].to_vec(),
            },
        })
    }

    /// `fc_2`/`fc_3` after its name: the `[inputs, outputs]` matrix (no bias in the descriptor).
    fn fc(&mut self) -> Option<Layer> {
        let outputs = usize::try_from(self.int()?).ok()?;
        let inputs = usize::try_from(self.int()?).ok()?;
        let (_, params) = self.tensor()?;
        if params.len() < inputs * outputs {
            return None;
        }
        Some(Layer::Fc(NamedTensor {
            shape: vec![inputs, outputs],
            values: params[..inputs * outputs].to_vec(),
        }))
    }
}

/// The layer names this reader knows, as dlib writes them (a length byte pair, then the text).
const NAMES: [&[u8]; 7] = [b"con_4", b"con_5", b"con_6", b"affine_", b"affine_2", b"fc_2", b"fc_3"];

/// Reads the weighted layers of the file, in its order (the input's side first).
fn layers(bytes: &[u8], path: &Path) -> Result<Vec<Layer>> {
    let malformed = |at: usize, reason: String| Error::Malformed {
        path: path.to_path_buf(),
        line: None,
        reason: format!("at byte {at}: {reason}"),
    };
    let mut layers = Vec::new();
    let mut at = 0usize;
    while at + 2 < bytes.len() {
        // A serialised string: 0x01, its length, its bytes.
        let name = NAMES.iter().find(|name| {
            bytes[at] == 1
                && usize::from(bytes[at + 1]) == name.len()
                && bytes.get(at + 2..at + 2 + name.len()) == Some(name)
        });
        let Some(name) = name else {
            at += 1;
            continue;
        };
        let mut reader = Reader {
            bytes,
            at: at + 2 + name.len(),
        };
        let layer = match name[0] {
            b'c' => reader.conv(),
            b'a' => reader.affine(),
            _ => reader.fc(),
        };
        let layer = layer.ok_or_else(|| {
            malformed(
                at,
                format!(
                    "the {} layer is cut short or inconsistent",
                    String::from_utf8_lossy(name)
                ),
            )
        })?;
        layers.push(layer);
        at = reader.at;
    }
    Ok(layers)
}

/// Reads dlib's `.dat` file of the face-recognition ResNet into face-api.js's tensor names.
pub fn read(path: &Path) -> Result<WeightMap> {
    let bytes = std::fs::read(path).at(path)?;
    let not_it = |reason: String| Error::Malformed {
        path: path.to_path_buf(),
        line: None,
        reason,
    };
    if !looks_like_dlib(&bytes) {
        return Err(not_it(
            "the face backbone loads dlib's network file (dlib_face_recognition_resnet_model_v1.dat) \
             or face-api.js's weights manifest (models/face-api/face_recognition_model-weights_manifest.json)"
                .into(),
        ));
    }
    let mut convs = Vec::new();
    let mut affines = Vec::new();
    let mut fc = None;
    for layer in layers(&bytes, path)? {
        match layer {
            Layer::Conv { filters, bias } => convs.push((filters, bias)),
            Layer::Affine { scale, shift } => affines.push((scale, shift)),
            Layer::Fc(t) => fc = Some(t),
        }
    }
    let prefixes: Vec<String> = std::iter::once("conv32_down".to_string())
        .chain(
            BLOCK_NAMES
                .iter()
                .flat_map(|b| [format!("{b}/conv1"), format!("{b}/conv2")]),
        )
        .collect();
    if convs.len() != prefixes.len() || affines.len() != prefixes.len() {
        return Err(not_it(format!(
            "{} convolutions and {} affine layers, dlib's face-recognition ResNet has {} of each",
            convs.len(),
            affines.len(),
            prefixes.len()
        )));
    }
    let fc = fc.ok_or_else(|| not_it("no fc layer (the descriptor's 256 -> 128 projection)".into()))?;
    let mut tensors = BTreeMap::new();
    for (prefix, ((filters, bias), (scale, shift))) in prefixes.iter().zip(convs.into_iter().zip(affines)) {
        tensors.insert(format!("{prefix}/conv/filters"), filters);
        tensors.insert(format!("{prefix}/conv/bias"), bias);
        tensors.insert(format!("{prefix}/scale/weights"), scale);
        tensors.insert(format!("{prefix}/scale/biases"), shift);
    }
    tensors.insert("fc".to_string(), fc);
    Ok(WeightMap {
        path: path.to_path_buf(),
        tensors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dlib's packed integer.
    fn int(out: &mut Vec<u8>, v: i64) {
        let (neg, mut m) = (if v < 0 { 0x80 } else { 0 }, v.unsigned_abs());
        let mut bytes = Vec::new();
        loop {
            bytes.push((m & 0xFF) as u8);
            m >>= 8;
            if m == 0 {
                break;
            }
        }
        out.push(bytes.len() as u8 | neg);
        out.extend(bytes);
    }

    fn string(out: &mut Vec<u8>, s: &str) {
        int(out, s.len() as i64);
        out.extend(s.as_bytes());
    }

    fn tensor(out: &mut Vec<u8>, dims: [i64; 4], values: &[f32]) {
        int(out, 2);
        dims.iter().for_each(|&d| int(out, d));
        values.iter().for_each(|v| out.extend(v.to_le_bytes()));
    }

    fn alias(out: &mut Vec<u8>, dims: [i64; 4]) {
        int(out, 1);
        dims.iter().for_each(|&d| int(out, d));
    }

    fn conv(out: &mut Vec<u8>, o: usize, i: usize, k: usize, first: f32) {
        string(out, "con_4");
        let values: Vec<f32> = (0..o * i * k * k + o).map(|v| first + v as f32).collect();
        tensor(out, [values.len() as i64, 1, 1, 1], &values);
        int(out, o as i64);
        for v in [k, k, 1, 1, 0, 0] {
            int(out, v as i64);
        }
        alias(out, [o as i64, i as i64, k as i64, k as i64]);
        alias(out, [1, o as i64, 1, 1]);
        out.extend([0x03, 0x01, 0x02, 0x03]); // learning-rate multipliers and the like
    }

    fn affine(out: &mut Vec<u8>, k: usize) {
        string(out, "affine_");
        let values: Vec<f32> = (0..2 * k).map(|v| v as f32 * 0.5).collect();
        tensor(out, [1, 2 * k as i64, 1, 1], &values);
        alias(out, [1, k as i64, 1, 1]);
        alias(out, [1, k as i64, 1, 1]);
        int(out, 1);
    }

    fn network(convs: usize) -> Vec<u8> {
        let mut out = Vec::new();
        int(&mut out, 1);
        string(&mut out, "loss_metric_2");
        out.extend([0u8; 24]);
        string(&mut out, "input_rgb_image_sized");
        for n in 0..convs {
            conv(
                &mut out,
                2,
                if n == 0 { 3 } else { 2 },
                if n == 0 { 7 } else { 3 },
                n as f32,
            );
            affine(&mut out, 2);
            string(&mut out, "relu_1");
        }
        string(&mut out, "fc_2");
        int(&mut out, 3);
        int(&mut out, 2);
        tensor(&mut out, [2, 3, 1, 1], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        out
    }

    #[test]
    fn a_dlib_network_reads_into_face_api_names_and_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("net.dat");
        std::fs::write(&path, network(29)).unwrap();
        let map = read(&path).unwrap();
        assert_eq!(map.tensors.len(), 117);
        let stem = &map.tensors["conv32_down/conv/filters"];
        assert_eq!(stem.shape, vec![7, 7, 3, 2]);
        // dlib's [out 1, in 2, y 3, x 4] lands at TF.js's [y 3, x 4, in 2, out 1].
        let dlib_index = ((3 + 2) * 7 + 3) * 7 + 4;
        let tf_index = ((3 * 7 + 4) * 3 + 2) * 2 + 1;
        assert_eq!(stem.values[tf_index], dlib_index as f32);
        assert_eq!(map.tensors["conv32_down/conv/bias"].values, vec![294.0, 295.0]);
        let last = &map.tensors["conv256_down_out/conv2/scale/biases"];
        assert_eq!(last.values, vec![1.0, 1.5]);
        assert_eq!(map.tensors["conv32_1/conv1/conv/filters"].values[0], 1.0);
        assert_eq!(map.tensors["fc"].shape, vec![2, 3]);
    }

    #[test]
    fn other_files_and_cut_networks_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("net.dat");
        std::fs::write(&path, network(28)).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("net.dat") && err.contains("28 convolutions"), "{err}");
        let mut cut = network(29);
        cut.truncate(cut.len() - 3);
        std::fs::write(&path, &cut).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("fc_2 layer is cut short"), "{err}");
        std::fs::write(&path, b"a text file that is long enough to be looked at").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("dlib_face_recognition_resnet_model_v1.dat"), "{err}");
    }
}

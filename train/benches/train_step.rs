//! Training-step time of SCN (forward + backward + Adam) on flex (CPU) and on wgpu, measured in
//! the same run. `cargo bench -p scn-train --bench train_step [-- SIZE CHANNELS BATCH STEPS
//! [dlib] [width=N] [stem=standard|no_pool|cifar] [gpu-only]]` (defaults: 48 1 16 5, ResNet-18 of
//! width 64 with the standard stem, both backends). `benches/torch_train_step.py` is the
//! PyTorch peer of the same step. Results go to BENCHMARKS.md.

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams, decay::WeightDecayConfig};
use burn::prelude::*;
use scn_train::loss::{self, ImportanceGroups, Targets};
use scn_train::model::{FaceResNetConfig, ResNetConfig, ScnConfig, Stem};

/// The network under test.
struct Network {
    /// dlib's face-recognition ResNet instead of ResNet-18.
    dlib: bool,
    /// ResNet-18 width.
    width: usize,
    /// ResNet-18 stem.
    stem: Stem,
}

impl Network {
    fn config(&self, channels: usize) -> ScnConfig {
        let config = ScnConfig::new(8);
        if self.dlib {
            config.with_face(Some(FaceResNetConfig::new().with_in_channels(channels)))
        } else {
            config.with_backbone(
                ResNetConfig::new()
                    .with_in_channels(channels)
                    .with_width(self.width)
                    .with_stem(self.stem),
            )
        }
    }

    fn name(&self) -> String {
        if self.dlib {
            "dlib's face ResNet".to_string()
        } else {
            format!("ResNet-18 width {} ({:?} stem)", self.width, self.stem)
        }
    }
}

fn step_seconds(
    device: &Device,
    network: &Network,
    size: usize,
    channels: usize,
    batch: usize,
    steps: usize,
) -> (f64, f64) {
    let device = device.clone().autodiff();
    device.seed(1);
    let mut model = network.config(channels).init(&device);
    let mut optim = AdamConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(Some(WeightDecayConfig::new(1e-4)))
        .init();
    let images = Tensor::<4>::random(
        [batch, channels, size, size],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let labels: Vec<i64> = (0..batch as i64).map(|i| i % 8).collect();
    let targets = Targets::Hard(Tensor::from_data(TensorData::new(labels, [batch]), &device));
    let mut times = Vec::new();
    for _ in 0..steps + 1 {
        let t = Instant::now();
        let out = model.forward(images.clone());
        let alpha: Vec<f32> = out.alpha.clone().into_data().convert::<f32>().try_into_vec().unwrap();
        let groups = ImportanceGroups::split(&alpha, 0.7);
        let total = loss::cross_entropy(out.logits, &targets) + loss::rank_regularization(out.alpha, &groups, 0.07);
        let _ = total.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(total.backward(), &model);
        model = optim.step(1e-3, model, grads);
        // Wait for the update to finish before stopping the clock.
        let _ = model.fc.bias.as_ref().map(|b| b.val().into_data());
        times.push(t.elapsed().as_secs_f64());
    }
    let first = times.remove(0);
    times.sort_by(f64::total_cmp);
    (first, times[times.len() / 2])
}

fn main() {
    let words: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<usize> = words.iter().filter_map(|a| a.parse().ok()).collect();
    let value = |key: &str| words.iter().find_map(|w| w.strip_prefix(key)?.strip_prefix('='));
    let network = Network {
        dlib: words.iter().any(|w| w == "dlib"),
        width: value("width").and_then(|w| w.parse().ok()).unwrap_or(64),
        stem: match value("stem").unwrap_or("standard") {
            "standard" => Stem::Standard,
            "no_pool" => Stem::NoPool,
            "cifar" => Stem::Cifar,
            other => {
                eprintln!("stem={other}: the stems are standard, no_pool and cifar");
                std::process::exit(2);
            }
        },
    };
    let gpu_only = words.iter().any(|w| w == "gpu-only");
    let (size, channels, batch, steps) = (
        args.first().copied().unwrap_or(48),
        args.get(1).copied().unwrap_or(1),
        args.get(2).copied().unwrap_or(16),
        args.get(3).copied().unwrap_or(5),
    );
    println!(
        "SCN on {} training step, {size}x{size}x{channels}, batch {batch}, median of {steps} steps after one warm-up step",
        network.name()
    );
    let flex = (!gpu_only).then(|| {
        let (first, step) = step_seconds(&Device::flex(), &network, size, channels, batch, steps);
        println!(
            "flex (CPU):  first {first:.3} s, then {step:.3} s/step ({:.1} img/s)",
            batch as f64 / step
        );
        step
    });
    let adapters = scn_train::device::adapters();
    match adapters.first() {
        Some(adapter) => {
            let gpu = scn_train::device::select(scn_train::device::DeviceChoice::Wgpu).expect("an adapter exists");
            let (first, wgpu) = step_seconds(&gpu.device, &network, size, channels, batch, steps);
            println!(
                "{}: first {first:.3} s (shader compilation), then {wgpu:.3} s/step ({:.1} img/s)",
                gpu.description,
                batch as f64 / wgpu
            );
            if let Some(flex) = flex {
                println!("wgpu / flex step time: {:.2} ({})", wgpu / flex, adapter.kind);
            }
        }
        None => println!("wgpu: no adapter found"),
    }
}

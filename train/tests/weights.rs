//! Loading pretrained backbones: torchvision-named checkpoints (here written as safetensors from
//! a model of known weights), prefixes, grey stems, and clear failures on files that do not fit.

use std::path::Path;

use burn::prelude::*;
use burn::store::{BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, SafetensorsStore};
use scn_train::model::{ResNetConfig, Scn, ScnConfig};
use scn_train::weights::{Pretrained, load_pretrained};

fn model(channels: usize, classes: usize) -> Scn {
    ScnConfig::new(classes)
        .with_backbone(ResNetConfig::new().with_in_channels(channels).with_width(4))
        .init(&Device::flex())
}

/// Saves `model` with torchvision's names (`layer1.0.downsample.0.weight`, BN `weight`/`bias`),
/// optionally under a `module.` prefix.
fn save_torchvision(model: &Scn, path: &Path, prefix: &str) {
    let remap = KeyRemapper::from_patterns(vec![
        (r"^backbone\.".to_string(), prefix.to_string()),
        (r"\.downsample\.conv\.".to_string(), ".downsample.0.".to_string()),
        (r"\.downsample\.bn\.".to_string(), ".downsample.1.".to_string()),
    ])
    .unwrap();
    let mut store = SafetensorsStore::from_file(path)
        .with_to_adapter(BurnToPyTorchAdapter)
        .remap(remap);
    model.save_into(&mut store).unwrap();
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn torchvision_names_load_into_the_backbone() {
    let dir = tempfile::tempdir().unwrap();
    let source = model(3, 1000);
    let path = dir.path().join("resnet18.safetensors");
    save_torchvision(&source, &path, "module.");
    let fresh = model(3, 7);
    let (loaded, report) = load_pretrained(
        fresh,
        &Pretrained {
            path: path.clone(),
            allow_partial: false,
        },
        &Device::flex(),
    )
    .unwrap();
    // 20 convolutions and BNs (4 tensors each) of ResNet-18.
    assert_eq!(report.applied, 20 + 20 * 4, "{}", report.summary());
    assert!(report.missing.is_empty());
    assert!(
        report.unused.iter().any(|u| u.contains("fc")),
        "the 1000-class head is reported unused: {:?}",
        report.unused
    );
    assert_eq!(
        values(loaded.backbone.as_ref().unwrap().layer2[0].conv1.weight.val()),
        values(source.backbone.as_ref().unwrap().layer2[0].conv1.weight.val())
    );
    let ds = |m: &Scn| {
        values(
            m.backbone.as_ref().unwrap().layer3[0]
                .downsample
                .as_ref()
                .unwrap()
                .conv
                .weight
                .val(),
        )
    };
    assert_eq!(ds(&loaded), ds(&source));
}

#[test]
fn a_grey_cifar_stem_refuses_torchvisions_7x7_stem_instead_of_summing_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rgb.safetensors");
    save_torchvision(&model(3, 1000), &path, "");
    let grey_cifar = ScnConfig::new(8)
        .with_backbone(
            ResNetConfig::new()
                .with_in_channels(1)
                .with_width(4)
                .with_stem(scn_train::config::Stem::Cifar),
        )
        .init(&Device::flex());
    let err = load_pretrained(
        grey_cifar,
        &Pretrained {
            path,
            allow_partial: false,
        },
        &Device::flex(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("conv1"), "{err}");
}

#[test]
fn a_grey_model_sums_the_rgb_stem() {
    let dir = tempfile::tempdir().unwrap();
    let source = model(3, 1000);
    let path = dir.path().join("rgb.safetensors");
    save_torchvision(&source, &path, "");
    let (loaded, report) = load_pretrained(
        model(1, 8),
        &Pretrained {
            path,
            allow_partial: false,
        },
        &Device::flex(),
    )
    .unwrap();
    assert!(report.grey_stem, "{}", report.summary());
    let expected = values(source.backbone.as_ref().unwrap().conv1.weight.val().sum_dim(1));
    let got = values(loaded.backbone.as_ref().unwrap().conv1.weight.val());
    assert_eq!(got.len(), 4 * 7 * 7);
    for (a, b) in got.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-6);
    }
}

#[test]
fn files_that_do_not_fit_are_refused_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    // A different architecture: only the heads match nothing of the backbone.
    let path = dir.path().join("other.safetensors");
    let mut store = SafetensorsStore::from_file(&path);
    model(3, 5).fc.save_into(&mut store).unwrap();
    let err = load_pretrained(
        model(3, 5),
        &Pretrained {
            path,
            allow_partial: false,
        },
        &Device::flex(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no tensor of the file matches"), "{err}");

    // A backbone with a missing stage: refused, unless partial loading is allowed.
    let source = model(3, 5);
    let partial = dir.path().join("partial.safetensors");
    let mut store = SafetensorsStore::from_file(&partial)
        .with_to_adapter(BurnToPyTorchAdapter)
        .with_regex(r"^backbone\.(conv1|bn1|layer1)\.")
        .remap(KeyRemapper::from_patterns(vec![(r"^backbone\.", "")]).unwrap());
    source.save_into(&mut store).unwrap();
    let err = load_pretrained(
        model(3, 5),
        &Pretrained {
            path: partial.clone(),
            allow_partial: false,
        },
        &Device::flex(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("--allow-partial") && err.to_string().contains("layer2"),
        "{err}"
    );
    let (_, report) = load_pretrained(
        model(3, 5),
        &Pretrained {
            path: partial,
            allow_partial: true,
        },
        &Device::flex(),
    )
    .unwrap();
    assert!(report.applied > 0 && !report.missing.is_empty());

    let missing = load_pretrained(
        model(3, 5),
        &Pretrained {
            path: dir.path().join("nope.pth"),
            allow_partial: false,
        },
        &Device::flex(),
    );
    assert!(missing.unwrap_err().to_string().contains("nope.pth"));
}

//! Choosing where to train: a real GPU through wgpu (Vulkan, Metal or DX12) when there is one,
//! else burn's flex CPU backend. A software Vulkan adapter (Mesa's lavapipe/llvmpipe) is never
//! chosen automatically: it is many times slower than flex; `--device wgpu` still allows it
//! (CI uses it to exercise the GPU code path).

use std::fmt;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// A real GPU adapter if present, else flex.
    #[default]
    Auto,
    /// wgpu, on the best adapter (a software one only if nothing else exists).
    Wgpu,
    /// burn's flex CPU backend.
    Flex,
}

impl DeviceChoice {
    /// Parses `--device`.
    pub fn parse(name: &str) -> Option<DeviceChoice> {
        match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(DeviceChoice::Auto),
            "wgpu" | "gpu" | "vulkan" | "metal" | "dx12" => Some(DeviceChoice::Wgpu),
            "flex" | "cpu" => Some(DeviceChoice::Flex),
            _ => None,
        }
    }
}

/// One wgpu adapter found on the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adapter {
    /// Adapter name ("NVIDIA GeForce RTX 4070", "llvmpipe (LLVM 15.0.7, 256 bits)").
    pub name: String,
    /// Graphics API ("Vulkan", "Metal", "Dx12").
    pub api: String,
    /// "DiscreteGpu", "IntegratedGpu", "VirtualGpu", "Cpu" or "Other".
    pub kind: String,
    /// Position among the adapters of the same kind (what burn's `DeviceKind` indexes).
    pub index: usize,
}

impl Adapter {
    /// Whether this is real hardware (not a CPU/software adapter).
    pub fn is_gpu(&self) -> bool {
        matches!(self.kind.as_str(), "DiscreteGpu" | "IntegratedGpu" | "VirtualGpu")
    }
}

impl fmt::Display for Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.name, self.api, self.kind)
    }
}

/// Lists the Vulkan, Metal and DX12 adapters (never GL: burn's wgpu backend cannot train on it).
/// Empty in builds without the `wgpu` feature.
#[cfg(not(feature = "wgpu"))]
pub fn adapters() -> Vec<Adapter> {
    Vec::new()
}

/// Lists the Vulkan, Metal and DX12 adapters (never GL: burn's wgpu backend cannot train on it).
#[cfg(feature = "wgpu")]
pub fn adapters() -> Vec<Adapter> {
    let backends = wgpu::Backends::PRIMARY;
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let found = futures_lite::future::block_on(instance.enumerate_adapters(backends));
    let mut seen: Vec<String> = Vec::new();
    found
        .iter()
        .map(|a| {
            let info = a.get_info();
            let kind = format!("{:?}", info.device_type);
            let index = seen.iter().filter(|k| **k == kind).count();
            seen.push(kind.clone());
            Adapter {
                name: info.name.clone(),
                api: format!("{:?}", info.backend),
                kind,
                index,
            }
        })
        .collect()
}

/// The device training runs on.
#[derive(Debug, Clone)]
pub struct SelectedDevice {
    /// burn's device (without autodiff).
    pub device: Device,
    /// What it is, for logs and metrics ("flex (CPU)", "wgpu: NVIDIA ... (Vulkan, DiscreteGpu)").
    pub description: String,
    /// Whether it is a wgpu device.
    pub is_wgpu: bool,
}

#[cfg(feature = "wgpu")]
fn wgpu_device(adapter: &Adapter) -> Result<SelectedDevice> {
    let kind = match adapter.kind.as_str() {
        "DiscreteGpu" => DeviceKind::DiscreteGpu(adapter.index),
        "IntegratedGpu" => DeviceKind::IntegratedGpu(adapter.index),
        "VirtualGpu" => DeviceKind::VirtualGpu(adapter.index),
        "Cpu" => DeviceKind::Cpu,
        _ => DeviceKind::DefaultDevice,
    };
    Ok(SelectedDevice {
        device: Device::wgpu(kind),
        description: format!("wgpu: {adapter}"),
        is_wgpu: true,
    })
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device(adapter: &Adapter) -> Result<SelectedDevice> {
    Err(Error::Device(format!(
        "{adapter}: this scn was built without GPU support (the `gpu` feature); rebuild with default features, or use --device flex"
    )))
}

fn flex() -> SelectedDevice {
    SelectedDevice {
        device: Device::flex(),
        description: "flex (CPU)".into(),
        is_wgpu: false,
    }
}

/// Picks the device for a choice, given the adapters found.
pub fn select_from(choice: DeviceChoice, adapters: &[Adapter]) -> Result<SelectedDevice> {
    let rank = |a: &&Adapter| match a.kind.as_str() {
        "DiscreteGpu" => 0,
        "IntegratedGpu" => 1,
        "VirtualGpu" => 2,
        _ => 3,
    };
    let best_gpu = adapters.iter().filter(|a| a.is_gpu()).min_by_key(rank);
    match choice {
        DeviceChoice::Flex => Ok(flex()),
        DeviceChoice::Auto => match best_gpu {
            Some(adapter) => wgpu_device(adapter),
            None => {
                if let Some(soft) = adapters.first() {
                    log::info!("only a software adapter was found ({soft}); training on flex, which is faster");
                } else {
                    log::info!("no Vulkan/Metal/DX12 GPU adapter found; training on flex (CPU)");
                }
                Ok(flex())
            }
        },
        DeviceChoice::Wgpu => match best_gpu.or(adapters.first()) {
            Some(adapter) => {
                if !adapter.is_gpu() {
                    log::warn!(
                        "wgpu runs on a software adapter ({adapter}): expect it to be much slower than --device flex"
                    );
                }
                wgpu_device(adapter)
            }
            None if cfg!(not(feature = "wgpu")) => Err(Error::Device(
                "this scn was built without GPU support (the `gpu` feature): rebuild with default features, \
                 or use --device flex"
                    .into(),
            )),
            None => Err(Error::Device(
                "no Vulkan, Metal or DX12 adapter found: install your GPU's driver (on Linux without a GPU, \
                 mesa-vulkan-drivers gives a software one), or use --device flex"
                    .into(),
            )),
        },
    }
}

/// Picks the device for a choice on this machine.
pub fn select(choice: DeviceChoice) -> Result<SelectedDevice> {
    let found = if choice == DeviceChoice::Flex {
        Vec::new()
    } else {
        adapters()
    };
    for a in &found {
        log::debug!("wgpu adapter: {a}");
    }
    select_from(choice, &found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(kind: &str, index: usize) -> Adapter {
        Adapter {
            name: format!("{kind} {index}"),
            api: "Vulkan".into(),
            kind: kind.into(),
            index,
        }
    }

    #[test]
    #[cfg(feature = "wgpu")]
    fn auto_prefers_a_discrete_gpu_and_never_a_software_adapter() {
        let found = [
            adapter("Cpu", 0),
            adapter("IntegratedGpu", 0),
            adapter("DiscreteGpu", 0),
        ];
        let d = select_from(DeviceChoice::Auto, &found).unwrap();
        assert!(
            d.is_wgpu && d.description.contains("DiscreteGpu 0"),
            "{}",
            d.description
        );
        let d = select_from(DeviceChoice::Auto, &[adapter("Cpu", 0)]).unwrap();
        assert!(!d.is_wgpu);
        assert!(!select_from(DeviceChoice::Auto, &[]).unwrap().is_wgpu);
    }

    #[test]
    #[cfg(feature = "wgpu")]
    fn explicit_wgpu_takes_a_software_adapter_but_fails_without_any() {
        assert!(select_from(DeviceChoice::Wgpu, &[adapter("Cpu", 0)]).unwrap().is_wgpu);
        let err = select_from(DeviceChoice::Wgpu, &[]).unwrap_err();
        assert!(err.to_string().contains("--device flex"), "{err}");
    }

    #[test]
    fn choices_parse() {
        assert_eq!(DeviceChoice::parse("Vulkan"), Some(DeviceChoice::Wgpu));
        assert_eq!(DeviceChoice::parse("cpu"), Some(DeviceChoice::Flex));
        assert_eq!(DeviceChoice::parse("tpu"), None);
    }
}

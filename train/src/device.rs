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
    // Vulkan drivers (Mesa's among them) write notes such as "error: XDG_RUNTIME_DIR is invalid
    // or not set" straight to the process's stderr while the instance starts: logged at debug.
    let found = quiet_native_stderr(|| futures_lite::future::block_on(instance.enumerate_adapters(backends)));
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

/// Runs `f` with the process's standard error (file descriptor 2) sent to a temporary file, and
/// logs at debug level what was written there. For calls into native GPU drivers, which print
/// notes that are not errors of ours ("error: XDG_RUNTIME_DIR is invalid or not set in the
/// environment." from Mesa's Vulkan drivers on a machine without a display). Where the
/// redirection cannot be set up, `f` runs with stderr as it is.
#[cfg(unix)]
pub fn quiet_native_stderr<T>(f: impl FnOnce() -> T) -> T {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;

    let _ = std::io::stderr().flush();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let path = std::env::temp_dir().join(format!("scn-stderr-{}-{nanos}", std::process::id()));
    let Ok(mut file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
    else {
        return f();
    };
    let _ = std::fs::remove_file(&path);
    // SAFETY: dup/dup2/close on descriptors this function owns (`saved`, `file`) and on 2, which
    // is put back before returning.
    let saved = unsafe { libc::dup(2) };
    if saved < 0 || unsafe { libc::dup2(file.as_raw_fd(), 2) } < 0 {
        if saved >= 0 {
            unsafe { libc::close(saved) };
        }
        return f();
    }
    let out = f();
    let _ = std::io::stderr().flush();
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    let mut text = String::new();
    if file.rewind().is_ok() && file.read_to_string(&mut text).is_ok() {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            log::debug!("native library: {line}");
        }
    }
    out
}

/// Runs `f` (no redirection on this platform).
#[cfg(not(unix))]
pub fn quiet_native_stderr<T>(f: impl FnOnce() -> T) -> T {
    f()
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

    #[cfg(unix)]
    #[test]
    fn native_stderr_is_held_back_and_put_back() {
        // Written to descriptor 2 directly, as a C library does.
        let value = quiet_native_stderr(|| {
            let note = b"error: XDG_RUNTIME_DIR is invalid or not set in the environment.\n";
            // SAFETY: writing a byte buffer to descriptor 2.
            let written = unsafe { libc::write(2, note.as_ptr().cast(), note.len()) };
            assert_eq!(written, note.len() as isize);
            7
        });
        assert_eq!(value, 7);
        // Descriptor 2 is the original again: it is not the (deleted) capture file.
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstat on descriptor 2 into a local buffer.
        assert_eq!(unsafe { libc::fstat(2, stat.as_mut_ptr()) }, 0);
        assert_ne!(
            unsafe { stat.assume_init() }.st_nlink,
            0,
            "stderr is not the deleted capture file"
        );
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

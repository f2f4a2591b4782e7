//! The live window (minifb): shows annotated frames and reads the keys. q or Esc quits, space
//! pauses, s saves a screenshot.

use crate::draw::Canvas;

/// What the user asked for with the keyboard since the last frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keys {
    /// q, Esc, or the window was closed.
    pub quit: bool,
    /// Space: pause or resume.
    pub toggle_pause: bool,
    /// s: save a screenshot.
    pub screenshot: bool,
}

/// Errors of the window.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// No window could be opened (no display, or no window support in this build).
    #[error("cannot open a window: {0}; use --no-window (with --json or --save) where there is no display")]
    Open(String),
    /// Showing a frame failed.
    #[error("the window failed: {0}")]
    Update(String),
}

/// A window that shows canvases.
pub struct Display {
    #[cfg(feature = "window")]
    window: minifb::Window,
    title: String,
}

impl std::fmt::Debug for Display {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Display").field("title", &self.title).finish()
    }
}

impl Display {
    /// Opens a window of the frame's size.
    #[cfg(feature = "window")]
    pub fn open(title: &str, width: usize, height: usize) -> Result<Display, WindowError> {
        let options = minifb::WindowOptions {
            resize: true,
            scale_mode: minifb::ScaleMode::AspectRatioStretch,
            ..minifb::WindowOptions::default()
        };
        let mut window = minifb::Window::new(title, width.max(1), height.max(1), options)
            .map_err(|e| WindowError::Open(e.to_string()))?;
        // Frames come as fast as they are processed; the window does not throttle them.
        window.set_target_fps(0);
        Ok(Display {
            window,
            title: title.into(),
        })
    }

    /// Without window support: an error that says so.
    #[cfg(not(feature = "window"))]
    pub fn open(title: &str, _width: usize, _height: usize) -> Result<Display, WindowError> {
        let _ = title;
        Err(WindowError::Open(
            "this scn was built without the `window` feature".into(),
        ))
    }

    /// Shows a canvas and returns the keys pressed since the last call.
    pub fn show(&mut self, canvas: &Canvas) -> Result<Keys, WindowError> {
        #[cfg(feature = "window")]
        {
            self.window
                .update_with_buffer(&canvas.pixels, canvas.width, canvas.height)
                .map_err(|e| WindowError::Update(e.to_string()))?;
            Ok(self.keys())
        }
        #[cfg(not(feature = "window"))]
        {
            let _ = canvas;
            Err(WindowError::Update("no window support".into()))
        }
    }

    /// Keeps the window responsive while nothing new is shown (paused), returning the keys.
    pub fn idle(&mut self) -> Keys {
        #[cfg(feature = "window")]
        {
            self.window.update();
            self.keys()
        }
        #[cfg(not(feature = "window"))]
        {
            Keys {
                quit: true,
                ..Keys::default()
            }
        }
    }

    #[cfg(feature = "window")]
    fn keys(&self) -> Keys {
        use minifb::{Key, KeyRepeat};
        let pressed = self.window.get_keys_pressed(KeyRepeat::No);
        Keys {
            quit: !self.window.is_open() || pressed.contains(&Key::Q) || pressed.contains(&Key::Escape),
            toggle_pause: pressed.contains(&Key::Space),
            screenshot: pressed.contains(&Key::S),
        }
    }
}

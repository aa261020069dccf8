//! X-Ray HTTP API shapes (work in progress by a helper; replaced shortly).

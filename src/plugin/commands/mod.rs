//! The commands, one per file.

mod login;
mod matrix;
mod token;

pub use login::Login;
pub use matrix::Matrix;
pub use token::{Token, TokenReveal};

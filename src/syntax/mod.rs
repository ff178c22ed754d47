//! Syntax: source text to a tree of spanned nodes.

pub mod ast;
mod parse;

pub use parse::{parse, slice};

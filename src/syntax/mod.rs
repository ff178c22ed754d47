//! Syntax: source text to a tree of spanned nodes.

pub mod ast;
mod parse;

pub use parse::{parse, slice, Parsed, MAX_EXPRESSION_CHARS, MAX_NESTING, MAX_TERMS};

//! The syntax tree. Every node carries the byte span it was parsed from.

use std::fmt::{self, Write};

use crate::diagnostic::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `"text"`, escapes already resolved.
    Str(Box<str>),
    /// `42`, `-10` or `&HF7`.
    Int(i64),
    /// A bare name such as `vbTextCompare`.
    Ident(Box<str>),
    /// `[givenName]`.
    Attr(Box<str>),
    Call(Box<Call>),
    Compare(Box<Compare>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: Box<str>,
    pub name_span: Span,
    pub args: Vec<Arg>,
}

/// One positional argument. `expr` is `None` for a slot left empty (`f(a, , c)`);
/// its span is then the empty range where the argument would stand.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub expr: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ];

    /// The operator written `symbol`.
    pub fn from_symbol(symbol: &str) -> Option<CmpOp> {
        CmpOp::ALL.into_iter().find(|op| op.symbol() == symbol)
    }

    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Compare {
    pub op: CmpOp,
    pub op_span: Span,
    pub lhs: Expr,
    pub rhs: Expr,
}

impl Expr {
    /// A short noun for messages ("a string constant", "a call to Join").
    pub fn description(&self) -> String {
        match &self.kind {
            ExprKind::Str(_) => "a string constant".into(),
            ExprKind::Int(_) => "a number".into(),
            ExprKind::Ident(_) => "a bare identifier".into(),
            ExprKind::Attr(_) => "an attribute".into(),
            ExprKind::Call(call) => format!("a call to {}", call.name),
            ExprKind::Compare(_) => "a comparison".into(),
        }
    }

    /// An indented tree, one node a line, for `scimap explain` and snapshot tests.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write_tree(&mut out, 0, "")
            .expect("writing to a String cannot fail");
        out
    }

    fn write_tree(&self, out: &mut String, depth: usize, role: &str) -> fmt::Result {
        let pad = "  ".repeat(depth);
        let at = format!("@{}..{}", self.span.start, self.span.end);
        match &self.kind {
            ExprKind::Str(s) => writeln!(out, "{pad}{role}Str {s:?} {at}"),
            ExprKind::Int(n) => writeln!(out, "{pad}{role}Int {n} {at}"),
            ExprKind::Ident(name) => writeln!(out, "{pad}{role}Ident {name} {at}"),
            ExprKind::Attr(name) => writeln!(out, "{pad}{role}Attr [{name}] {at}"),
            ExprKind::Compare(cmp) => {
                writeln!(out, "{pad}{role}Compare {} {at}", cmp.op.symbol())?;
                cmp.lhs.write_tree(out, depth + 1, "")?;
                cmp.rhs.write_tree(out, depth + 1, "")
            }
            ExprKind::Call(call) => {
                writeln!(out, "{pad}{role}Call {} {at}", call.name)?;
                for (i, arg) in call.args.iter().enumerate() {
                    let role = format!("{i}: ");
                    match &arg.expr {
                        Some(expr) => expr.write_tree(out, depth + 1, &role)?,
                        None => writeln!(
                            out,
                            "{pad}  {role}(omitted) @{}..{}",
                            arg.span.start, arg.span.end
                        )?,
                    }
                }
                Ok(())
            }
        }
    }

    /// Visits this node and all nodes below it, parents first.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Call(call) => call
                .args
                .iter()
                .filter_map(|a| a.expr.as_ref())
                .for_each(|e| e.walk(f)),
            ExprKind::Compare(cmp) => {
                cmp.lhs.walk(f);
                cmp.rhs.walk(f);
            }
            _ => {}
        }
    }
}

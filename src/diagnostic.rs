//! Diagnostics: the one error/warning type of the language front end, and the one place
//! where diagnostics are rendered as text.

use std::fmt;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde::Serialize;

/// A byte range in the expression source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(into = "[u32; 2]")]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl From<Span> for [u32; 2] {
    fn from(span: Span) -> [u32; 2] {
        [span.start, span.end]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// What went wrong, as a stable machine-readable code (`--json`, the playground).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Code {
    // Syntax.
    UnterminatedString,
    UnclosedDelimiter,
    UnmatchedDelimiter,
    UnexpectedToken,
    ExpressionTooLong,
    NestingTooDeep,
    TooManyTerms,
    InvalidNumber,
    InvalidAttribute,
    UnknownEscape,
    // Checking.
    UnknownFunction,
    Arity,
    MissingArgument,
    ArgumentKind,
    UnknownIdentifier,
    MisplacedFunction,
    ReplaceMode,
    InvalidRegex,
    InvalidFormat,
    UnknownAttribute,
    UnreliablePattern,
    DuplicateKey,
    // Evaluation.
    Type,
    Argument,
    NullComparison,
    Limit,
    // Mapping files.
    Mapping,
    UnknownTarget,
    DuplicateTarget,
    UnknownOperator,
    // Input.
    Input,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::UnterminatedString => "unterminated-string",
            Code::UnclosedDelimiter => "unclosed-delimiter",
            Code::UnmatchedDelimiter => "unmatched-delimiter",
            Code::UnexpectedToken => "unexpected-token",
            Code::ExpressionTooLong => "expression-too-long",
            Code::NestingTooDeep => "nesting-too-deep",
            Code::TooManyTerms => "too-many-terms",
            Code::InvalidNumber => "invalid-number",
            Code::InvalidAttribute => "invalid-attribute",
            Code::UnknownEscape => "unknown-escape",
            Code::UnknownFunction => "unknown-function",
            Code::Arity => "arity",
            Code::MissingArgument => "missing-argument",
            Code::ArgumentKind => "argument-kind",
            Code::UnknownIdentifier => "unknown-identifier",
            Code::MisplacedFunction => "misplaced-function",
            Code::ReplaceMode => "replace-mode",
            Code::InvalidRegex => "invalid-regex",
            Code::InvalidFormat => "invalid-format",
            Code::UnknownAttribute => "unknown-attribute",
            Code::UnreliablePattern => "unreliable-pattern",
            Code::DuplicateKey => "duplicate-key",
            Code::Type => "type",
            Code::Argument => "argument",
            Code::NullComparison => "null-comparison",
            Code::Limit => "limit",
            Code::Mapping => "mapping",
            Code::UnknownTarget => "unknown-target",
            Code::DuplicateTarget => "duplicate-target",
            Code::UnknownOperator => "unknown-operator",
            Code::Input => "input",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

/// An error or warning about an expression, pointing into its source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub labels: Vec<Label>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// The primary label: where the problem is.
    pub fn at(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: true,
        });
        self
    }

    /// A secondary label: context for the problem.
    pub fn with(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The span of the primary label, if any.
    pub fn span(&self) -> Option<Span> {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or(self.labels.first())
            .map(|l| l.span)
    }

    /// Renders the diagnostic as a source snippet with underlines, like rustc.
    pub fn render(&self, source: &str, origin: &str, color: bool) -> String {
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let mut snippet = Snippet::source(source).path(origin);
        for label in &self.labels {
            let kind = if label.primary {
                AnnotationKind::Primary
            } else {
                AnnotationKind::Context
            };
            let range = clamp(label.span, source);
            snippet = snippet.annotation(kind.span(range).label(label.message.as_str()));
        }
        let title = level
            .primary_title(self.message.as_str())
            .id(self.code.as_str());
        let mut group = Group::with_title(title);
        if !self.labels.is_empty() {
            group = group.element(snippet);
        }
        if let Some(help) = &self.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        let report: [Group<'_>; 1] = [group];
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        renderer.render(&report).to_string()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span() {
            Some(span) => write!(
                f,
                "{} at {}..{}: {}",
                self.code, span.start, span.end, self.message
            ),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for Diagnostic {}

/// Keeps a span inside the source and on character boundaries, so rendering never panics.
fn clamp(span: Span, source: &str) -> std::ops::Range<usize> {
    let fix = |mut i: usize| {
        i = i.min(source.len());
        while !source.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = fix(span.start as usize);
    start..fix(span.end as usize).max(start)
}

/// The diagnostics of a failed compilation or mapping check, errors first. They hold
/// no source: they point into the one given to [`Diagnostics::render`].
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    pub fn first_error(&self) -> Option<&Diagnostic> {
        self.errors().next()
    }

    pub fn render(&self, source: &str, origin: &str, color: bool) -> String {
        self.0
            .iter()
            .map(|d| d.render(source, origin, color))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.errors().count();
        match self.first_error() {
            Some(first) if errors > 1 => write!(f, "{first} (and {} more errors)", errors - 1),
            Some(first) => write!(f, "{first}"),
            None => f.write_str("no errors"),
        }
    }
}

impl std::error::Error for Diagnostics {}

//! Microsoft Graph's shapes for expressions: the `attributeMappingSource` tree and the
//! `parseExpression` response, so results can be compared with Graph's own API.

use serde::Serialize;

use crate::batch::Batch;
use crate::bytecode::Program;
use crate::context::Context;
use crate::diagnostic::Diagnostic;
use crate::functions::Function;
use crate::syntax::ast::{Expr, ExprKind};

/// Graph's `attributeMappingSource`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeMappingSource {
    pub expression: String,
    pub name: String,
    pub parameters: Vec<Parameter>,
    #[serde(rename = "type")]
    pub kind: SourceKind,
}

/// Graph's `stringKeyAttributeMappingSourceValuePair`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parameter {
    pub key: String,
    pub value: AttributeMappingSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SourceKind {
    Attribute,
    Constant,
    Function,
}

/// Graph's `parseExpressionResponse`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParseExpressionResponse {
    pub parsing_succeeded: bool,
    pub evaluation_succeeded: bool,
    pub evaluation_result: Vec<String>,
    pub parsed_expression: Option<AttributeMappingSource>,
    pub error: Option<PublicError>,
}

/// Graph's `publicError`, reduced to what scimap can say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicError {
    pub code: String,
    pub message: String,
}

impl From<&Diagnostic> for PublicError {
    fn from(d: &Diagnostic) -> PublicError {
        PublicError {
            code: d.code.as_str().to_string(),
            message: d.message.clone(),
        }
    }
}

/// The tree Graph would store for a parsed expression. Omitted arguments do not
/// appear; parameter keys come from the function table. A comparison, which Graph's
/// documentation does not show in tree form, is a `Function` named by its operator
/// with `left` and `right` parameters.
pub fn mapping_source(expr: &Expr, source: &str) -> AttributeMappingSource {
    let text = crate::syntax::slice(source, expr.span).to_string();
    let leaf = |name: String, kind| AttributeMappingSource {
        expression: text.clone(),
        name,
        parameters: Vec::new(),
        kind,
    };
    match &expr.kind {
        ExprKind::Attr(name) => leaf(name.to_string(), SourceKind::Attribute),
        ExprKind::Str(value) => leaf(value.to_string(), SourceKind::Constant),
        ExprKind::Int(_) | ExprKind::Ident(_) => leaf(text.clone(), SourceKind::Constant),
        ExprKind::Compare(cmp) => AttributeMappingSource {
            expression: text.clone(),
            name: cmp.op.symbol().to_string(),
            parameters: vec![
                Parameter {
                    key: "left".into(),
                    value: mapping_source(&cmp.lhs, source),
                },
                Parameter {
                    key: "right".into(),
                    value: mapping_source(&cmp.rhs, source),
                },
            ],
            kind: SourceKind::Function,
        },
        ExprKind::Call(call) => {
            let function = Function::lookup(&call.name);
            let parameters = call
                .args
                .iter()
                .enumerate()
                .filter_map(|(i, arg)| {
                    let value = arg.expr.as_ref()?;
                    let key = function
                        .and_then(|f| f.param(i))
                        .map_or_else(|| format!("{}", i + 1), |p| p.graph_key.to_string());
                    Some(Parameter {
                        key,
                        value: mapping_source(value, source),
                    })
                })
                .collect();
            AttributeMappingSource {
                expression: text.clone(),
                name: call.name.to_string(),
                parameters,
                kind: SourceKind::Function,
            }
        }
    }
}

/// What Graph's `parseExpression` would answer for this expression and record (the
/// first record of `batch`; an empty batch evaluates over an empty record).
pub fn parse_expression(source: &str, batch: &Batch, ctx: &Context) -> ParseExpressionResponse {
    let parsed_expression = crate::syntax::parse(source)
        .ok()
        .map(|p| mapping_source(&p.expr, source));
    let program = match Program::compile(source) {
        Ok(program) => program,
        Err(diagnostics) => {
            return ParseExpressionResponse {
                parsing_succeeded: false,
                evaluation_succeeded: false,
                evaluation_result: Vec::new(),
                parsed_expression,
                error: diagnostics.first_error().map(PublicError::from),
            }
        }
    };
    let empty;
    let batch = if batch.is_empty() {
        empty = Batch::from_json(&[serde_json::json!({})]).expect("an empty object is a record");
        &empty
    } else {
        batch
    };
    let result = program
        .eval_batch(batch, ctx)
        .into_iter()
        .next()
        .expect("the batch has a record");
    let (evaluation_succeeded, evaluation_result, error) = match result {
        Ok(value) => (true, value.to_strings(), None),
        Err(e) => (false, Vec::new(), Some(PublicError::from(e.diagnostic()))),
    };
    ParseExpressionResponse {
        parsing_succeeded: true,
        evaluation_succeeded,
        evaluation_result,
        parsed_expression,
        error,
    }
}

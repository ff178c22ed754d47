//! The virtual machine: runs a compiled program over every record of a batch.

use crate::batch::{Batch, Column};
use crate::bytecode::{JoinPlan, Op, Program};
use crate::context::Context;
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::functions::{self, multi, Args, Fault};
use crate::syntax::ast::CmpOp;
use crate::value::Value;
use shape::{Leaf, Shape};
use std::cmp::Ordering;

mod shape;

/// An evaluation that failed for one record, pointing at the part of the expression
/// that failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .0.message)]
pub struct EvalError(Box<Diagnostic>);

impl EvalError {
    pub fn code(&self) -> Code {
        self.0.code
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }

    pub fn span(&self) -> Option<Span> {
        self.0.span()
    }

    /// The error as a diagnostic, for rendering against the source.
    pub fn diagnostic(&self) -> &Diagnostic {
        &self.0
    }
}

/// A fault and the instruction it happened at (`Fault` is boxed, so this stays small).
type Trap = (usize, Fault);

fn trap(pc: usize) -> impl FnOnce(Fault) -> Trap {
    move |fault| (pc, fault)
}

/// Where each attribute slot of a program is found in a batch.
struct Binding<'a> {
    columns: Vec<Option<&'a Column>>,
    lists: &'a [Value<'static>],
}

impl<'a> Binding<'a> {
    fn new(program: &Program, batch: &'a Batch) -> Binding<'a> {
        Binding {
            columns: program
                .slots
                .iter()
                .map(|name| batch.column(name))
                .collect(),
            lists: batch.lists(),
        }
    }
}

/// A program bound to a batch, evaluated one record at a time (applying a mapping
/// evaluates all its programs for one record before the next).
pub(crate) struct Evaluator<'a> {
    program: &'a Program,
    binding: Binding<'a>,
    stack: Vec<Value<'a>>,
    rng: fastrand::Rng,
    shape: Shape,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(program: &'a Program, batch: &'a Batch, ctx: &Context) -> Evaluator<'a> {
        Evaluator {
            program,
            binding: Binding::new(program, batch),
            stack: Vec::with_capacity(program.max_stack + 1),
            rng: ctx.rng(),
            shape: Shape::of(program),
        }
    }

    #[inline]
    pub(crate) fn eval(&mut self, row: usize, ctx: &Context) -> Result<Value<'a>, EvalError> {
        let (program, binding) = (self.program, &self.binding);
        match self.shape {
            Shape::Attribute(slot) => return Ok(load(binding, slot, row)),
            Shape::Lookup { table, slot } => {
                if let Some(value) = program.lookup_slot(binding, table, slot, row) {
                    return Ok(value);
                }
            }
            Shape::Join(join) => {
                let plan = &program.joins[join as usize];
                if let Some(value) = join_texts(binding, row, plan, ctx.limits.max_text_bytes) {
                    return Ok(value);
                }
            }
            Shape::Choose {
                test,
                slot,
                then,
                otherwise,
            } => {
                let leaf = if test.holds(&load(binding, slot, row)) {
                    then
                } else {
                    otherwise
                };
                return Ok(match leaf {
                    Leaf::Load(slot) => load(binding, slot, row),
                    Leaf::Const(index) => program.consts[index as usize].reborrow(),
                });
            }
            // The fast ways above fall through to the loop for what they do not
            // take (a list where a text was expected, a join past its limits).
            Shape::General => {}
        }
        self.run(row, ctx)
    }

    #[inline]
    fn run(&mut self, row: usize, ctx: &Context) -> Result<Value<'a>, EvalError> {
        match self
            .program
            .run(&self.binding, row, &mut self.stack, ctx, &mut self.rng)
        {
            Ok(value) => Ok(value),
            Err((pc, fault)) => {
                self.stack.clear();
                Err(self.program.error(pc, fault))
            }
        }
    }
}

impl Program {
    /// Evaluates the program for every record of the batch, in order.
    ///
    /// ```
    /// use scimap::{Batch, Context, Program, Value};
    ///
    /// let program = Program::compile(r#"Join(" ", [givenName], [surname])"#).unwrap();
    /// let records = serde_json::json!([
    ///     {"givenName": "John", "surname": "Doe"},
    ///     {"givenName": "Zoë"},
    /// ]);
    /// let batch = Batch::from_json(records.as_array().unwrap()).unwrap();
    /// let results = program.eval_batch(&batch, &Context::default());
    /// assert_eq!(results[0], Ok(Value::str("John Doe")));
    /// assert_eq!(results[1], Ok(Value::str("Zoë")));
    /// ```
    pub fn eval_batch<'a>(
        &'a self,
        batch: &'a Batch,
        ctx: &Context,
    ) -> Vec<Result<Value<'a>, EvalError>> {
        let mut results = Vec::with_capacity(batch.len());
        self.eval_each(batch, ctx, |_, result| results.push(result));
        results
    }

    /// Evaluates the program for every record of the batch, handing each result to
    /// `sink` with its record index, without collecting them.
    pub fn eval_each<'a>(
        &'a self,
        batch: &'a Batch,
        ctx: &Context,
        mut sink: impl FnMut(usize, Result<Value<'a>, EvalError>),
    ) {
        let mut evaluator = Evaluator::new(self, batch, ctx);
        for row in 0..batch.len() {
            sink(row, evaluator.eval(row, ctx));
        }
    }

    #[inline]
    fn run<'a>(
        &'a self,
        binding: &Binding<'a>,
        row: usize,
        stack: &mut Vec<Value<'a>>,
        ctx: &Context,
        rng: &mut fastrand::Rng,
    ) -> Result<Value<'a>, Trap> {
        let mut pc = 0;
        loop {
            match self.code[pc] {
                Op::Null => stack.push(Value::Null),
                Op::Const(i) => stack.push(self.consts[i as usize].reborrow()),
                Op::Load(slot) => stack.push(load(binding, slot, row)),
                Op::Call { f, site, argc } => {
                    let result = self.call(f, site, argc, stack, ctx, rng);
                    stack.push(result.map_err(trap(pc))?);
                }
                Op::JoinSlots { f, site, join } => {
                    let plan = &self.joins[join as usize];
                    match join_texts(binding, row, plan, ctx.limits.max_text_bytes) {
                        Some(value) => stack.push(value),
                        None => {
                            for &slot in plan.slots.iter() {
                                stack.push(load(binding, slot, row));
                            }
                            let argc = plan.slots.len() as u32;
                            let result = self.call(f, site, argc, stack, ctx, rng);
                            stack.push(result.map_err(trap(pc))?);
                        }
                    }
                }
                Op::Compare(op) => {
                    let rhs = stack.pop().expect("compare has two operands");
                    let lhs = stack.pop().expect("compare has two operands");
                    let result = match (&lhs, &rhs) {
                        (Value::Ignored, _) | (_, Value::Ignored) => Value::Ignored,
                        _ => Value::Bool(compare(op, &lhs, &rhs).map_err(trap(pc))?),
                    };
                    stack.push(result);
                }
                Op::JumpIfIgnored(target) => {
                    if matches!(stack.last(), Some(Value::Ignored)) {
                        pc = target as usize;
                        continue;
                    }
                }
                Op::Branch { test, else_, end } => {
                    let condition = stack.pop().expect("a condition was pushed");
                    let holds = match (&condition, test) {
                        (Value::Ignored, _) => {
                            stack.push(Value::Ignored);
                            pc = end as usize;
                            continue;
                        }
                        (value, Some(test)) => test.holds(value),
                        (Value::Bool(b), None) => *b,
                        (other, None) => truth(other).map_err(trap(pc))?,
                    };
                    pc = if holds { pc + 1 } else { else_ as usize };
                    continue;
                }
                Op::BranchSlot { test, slot, else_ } => {
                    pc = if test.holds(&load(binding, slot, row)) {
                        pc + 1
                    } else {
                        else_ as usize
                    };
                    continue;
                }
                Op::Jump(target) => {
                    pc = target as usize;
                    continue;
                }
                Op::JumpIfNotNull(target) => {
                    if stack.last().is_some_and(|v| !v.is_null()) {
                        pc = target as usize;
                        continue;
                    }
                    stack.pop();
                }
                Op::SwitchTable(t) => {
                    let source = stack.pop().expect("a switch source was pushed");
                    let table = &self.tables[t as usize];
                    let key = switch_text(&source).map_err(trap(pc))?;
                    pc = table.targets.get(&*key).map_or(table.default, |&t| t) as usize;
                    continue;
                }
                Op::Lookup(t) => {
                    let source = stack.pop().expect("a switch source was pushed");
                    stack.push(self.lookup(t, &source).map_err(trap(pc))?);
                }
                Op::LookupSlot { table, slot } => {
                    let result = match self.lookup_slot(binding, table, slot, row) {
                        Some(value) => Ok(value),
                        None => self.lookup(table, &load(binding, slot, row)),
                    };
                    stack.push(result.map_err(trap(pc))?);
                }
                Op::Case(target) => {
                    let key = stack.pop().expect("a case key was pushed");
                    let source = stack.last().expect("a switch source is below its keys");
                    let matched = switch_text(source).map_err(trap(pc))?
                        == switch_text(&key).map_err(trap(pc))?;
                    if matched {
                        stack.pop();
                        pc = target as usize;
                        continue;
                    }
                }
                Op::Pop => {
                    stack.pop();
                }
                Op::Return => {
                    return Ok(stack
                        .pop()
                        .expect("a program leaves its result on the stack"))
                }
            }
            pc += 1;
        }
    }

    /// A `Switch` over an attribute whose value is a text or null (the key "", as
    /// `switch_text` has it), read straight from its column; `None` for a list or an
    /// object, which `lookup` then takes, errors included.
    #[inline]
    fn lookup_slot<'a>(
        &'a self,
        binding: &Binding<'_>,
        table: u32,
        slot: u32,
        row: usize,
    ) -> Option<Value<'a>> {
        let key = match binding.columns[slot as usize] {
            Some(column) => column.text(row)?.unwrap_or(""),
            None => "",
        };
        let index = self.lookups[table as usize].get(key);
        Some(self.consts[index as usize].reborrow())
    }

    #[inline]
    fn lookup(&self, table: u32, source: &Value<'_>) -> Result<Value<'_>, Fault> {
        let table = &self.lookups[table as usize];
        let index = match source {
            Value::Str(key) => table.get(key),
            Value::Ignored => return Ok(Value::Ignored),
            other => table.get(&switch_text(other)?),
        };
        Ok(self.consts[index as usize].reborrow())
    }

    /// Calls `f` on the top `argc` values of the stack, taking them off.
    #[inline(always)]
    fn call<'a>(
        &'a self,
        f: crate::functions::NativeFn,
        site: u32,
        argc: u32,
        stack: &mut Vec<Value<'a>>,
        ctx: &Context,
        rng: &mut fastrand::Rng,
    ) -> Result<Value<'a>, Fault> {
        let base = stack.len() - argc as usize;
        let args = &mut stack[base..];
        let result = if args.iter().any(|v| matches!(v, Value::Ignored)) {
            Ok(Value::Ignored)
        } else {
            let site = &self.sites[site as usize];
            let mut args = Args {
                values: args,
                slots: &site.slots,
                prepared: &site.prepared,
                ctx,
                rng,
            };
            f(&mut args)
        };
        stack.truncate(base);
        result
    }

    /// Attaches the location of the failing instruction (or argument) to a fault.
    fn error(&self, pc: usize, fault: Fault) -> EvalError {
        let fault = fault.into_data();
        let (span, message) = match (self.code[pc], fault.arg) {
            (Op::Call { site, .. } | Op::JoinSlots { site, .. }, Some(arg)) => {
                let site = &self.sites[site as usize];
                let param = site.function.param(arg).map_or("?", |p| p.name);
                let span = site.arg_spans.get(arg).copied().unwrap_or(site.span);
                (
                    span,
                    format!(
                        "{}: argument `{param}` {}",
                        site.function.name, fault.message
                    ),
                )
            }
            (Op::Call { site, .. } | Op::JoinSlots { site, .. }, None) => {
                let site = &self.sites[site as usize];
                (
                    site.span,
                    format!("{}: {}", site.function.name, fault.message),
                )
            }
            _ => (self.spans[pc], fault.message),
        };
        EvalError(Box::new(
            Diagnostic::error(fault.code, message).at(span, "evaluation failed here"),
        ))
    }
}

#[inline]
fn load<'a>(binding: &Binding<'a>, slot: u32, row: usize) -> Value<'a> {
    match binding.columns[slot as usize] {
        Some(column) => column.get(row, binding.lists),
        None => Value::Null,
    }
}

/// The most attributes `join_texts` takes on; past it, the general way.
const JOIN_MAX: usize = 8;

/// `Join` as `functions::multi::join` computes it, for attributes that are strings or
/// null, straight from the batch's columns; `None` for anything else (a list, a
/// number, more than JOIN_MAX attributes, a result past `max` bytes), which the
/// general way then handles, errors included.
#[inline]
fn join_texts<'a>(binding: &Binding<'a>, row: usize, plan: &JoinPlan, max: usize) -> Option<Value<'a>> {
    let mut parts: [&str; JOIN_MAX] = [""; JOIN_MAX];
    let (mut count, mut bytes, mut all_null) = (0, 0, true);
    if plan.slots.len() > JOIN_MAX {
        return None;
    }
    for &slot in plan.slots.iter() {
        match binding.columns[slot as usize].map(|column| column.text(row)) {
            None | Some(Some(None)) => {}
            Some(Some(Some(text))) => {
                all_null = false;
                if !text.is_empty() {
                    parts[count] = text;
                    count += 1;
                    bytes += text.len();
                }
            }
            Some(None) => return None,
        }
    }
    if count == 0 {
        return Some(multi::joined_nothing(all_null));
    }
    let total = multi::joined_len(&plan.separator, count, bytes);
    if total > max {
        return None;
    }
    let mut out = String::with_capacity(total);
    for part in &parts[..count] {
        multi::push_joined(&mut out, &plan.separator, part);
    }
    Some(Value::string(out))
}

/// The text a Switch compares: null matches the key `""`.
fn switch_text<'v>(value: &'v Value<'_>) -> Result<std::borrow::Cow<'v, str>, Fault> {
    match value {
        Value::Null | Value::Ignored => Ok("".into()),
        Value::List(_) => Err(Fault::new(
            Code::Type,
            None,
            "Switch compares single values, not a multi-valued value",
        )),
        other => Ok(other.as_text().unwrap_or_default()),
    }
}

fn truth(value: &Value<'_>) -> Result<bool, Fault> {
    match functions::to_bool(value) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(Fault::new(
            Code::NullComparison,
            None,
            "the condition is null; Entra fails IIF conditions over missing values",
        )),
        Err(what) => Err(Fault::new(
            Code::Type,
            None,
            format!("the condition must be True or False, not {what}"),
        )),
    }
}

/// Comparison as Entra does it: numbers numerically, date-times in time, anything else
/// as exact (case-sensitive, ordinal) text. A null side fails, as documented for IIF.
fn compare(op: CmpOp, lhs: &Value<'_>, rhs: &Value<'_>) -> Result<bool, Fault> {
    if lhs.is_null() || rhs.is_null() {
        return Err(Fault::new(
            Code::NullComparison,
            None,
            "comparison with a null value; Entra fails a condition over a missing attribute",
        ));
    }
    let ordering = match (lhs, rhs) {
        (Value::List(_), _) | (_, Value::List(_)) => {
            return Err(Fault::new(
                Code::Type,
                None,
                "cannot compare a multi-valued value",
            ))
        }
        (Value::DateTime(a), Value::DateTime(b)) => a.cmp(b),
        (Value::Bool(a), other) | (other, Value::Bool(a)) if bool_of(other).is_some() => {
            let b = bool_of(other).expect("checked");
            let ord = a.cmp(&b);
            if matches!(lhs, Value::Bool(_)) {
                ord
            } else {
                ord.reverse()
            }
        }
        _ => match (number_of(lhs), number_of(rhs)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => lhs
                .as_text()
                .unwrap_or_default()
                .cmp(&rhs.as_text().unwrap_or_default()),
        },
    };
    Ok(match op {
        CmpOp::Eq => ordering == Ordering::Equal,
        CmpOp::Ne => ordering != Ordering::Equal,
        CmpOp::Lt => ordering == Ordering::Less,
        CmpOp::Le => ordering != Ordering::Greater,
        CmpOp::Gt => ordering == Ordering::Greater,
        CmpOp::Ge => ordering != Ordering::Less,
    })
}

fn bool_of(value: &Value<'_>) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Integers, and strings that are exactly an integer (`"42"`, `"-7"`).
fn number_of(value: &Value<'_>) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        Value::Str(s) if !s.is_empty() && s.trim() == &**s => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A result is stored per record: no larger than its value, the error hiding
    /// in the tag's unused values.
    #[test]
    fn results_stay_as_small_as_values() {
        assert_eq!(
            std::mem::size_of::<Result<Value<'_>, EvalError>>(),
            std::mem::size_of::<Value<'_>>()
        );
    }
}

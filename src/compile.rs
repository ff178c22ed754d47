//! The compiler: a checked syntax tree to bytecode.

use rustc_hash::FxHashMap;

use crate::bytecode::{CallSite, JoinPlan, LookupTable, Op, Program, SwitchTable};
use crate::check::{self, Checked};
use crate::context::Context;
use crate::diagnostic::{Diagnostics, Span};
use crate::functions::{Args, Implementation, NativeFn, Presence, Slot, Special};
use crate::syntax::ast::{Arg, Call, Expr, ExprKind};
use crate::value::Value;

/// Switches with at least this many constant keys become a table lookup; below it,
/// comparing in turn is as fast.
const TABLE_MIN_CASES: usize = 4;

impl Program {
    /// Parses, checks and compiles an expression. On failure, every diagnostic found
    /// (errors first, then warnings) is returned.
    pub fn compile(source: &str) -> Result<Program, Diagnostics> {
        let parsed = crate::syntax::parse(source).map_err(Diagnostics)?;
        let mut checked = check::check(&parsed.expr, source);
        let mut warnings = parsed.warnings;
        if checked.has_errors() {
            let mut all = checked.diagnostics;
            all.sort_by_key(|d| !d.is_error());
            all.extend(warnings);
            return Err(Diagnostics(all));
        }
        warnings.append(&mut checked.diagnostics);
        let root = match &parsed.expr.kind {
            ExprKind::Call(call) => checked.calls.get(&call.name_span.start).map(|r| r.function),
            _ => None,
        };
        let mut compiler = Compiler::new(source, checked);
        compiler.program.root = root;
        compiler.expr(&parsed.expr);
        compiler.emit(Op::Return, parsed.expr.span);
        Ok(compiler.finish(warnings))
    }
}

struct Compiler {
    program: Program,
    checked: Checked,
    slot_index: FxHashMap<Box<str>, u32>,
    depth: usize,
}

impl Compiler {
    fn new(source: &str, checked: Checked) -> Compiler {
        let redacted = checked.calls.values().any(|r| r.function.redacts);
        Compiler {
            program: Program {
                source: source.into(),
                code: Vec::new(),
                spans: Vec::new(),
                consts: Vec::new(),
                slots: Vec::new(),
                sites: Vec::new(),
                tables: Vec::new(),
                lookups: Vec::new(),
                joins: Vec::new(),
                max_stack: 0,
                redacted,
                root: None,
                warnings: Vec::new(),
            },
            checked,
            slot_index: FxHashMap::default(),
            depth: 0,
        }
    }

    fn finish(mut self, warnings: Vec<crate::diagnostic::Diagnostic>) -> Program {
        debug_assert!(
            self.jumps_go_forward(),
            "a backward jump would break the evaluation bound"
        );
        self.drop_unused_constants();
        self.program.warnings = warnings;
        self.program
    }

    /// Folding leaves the constants it consumed behind; renumber the ones still used.
    fn drop_unused_constants(&mut self) {
        let program = &mut self.program;
        let mut renumber = vec![None; program.consts.len()];
        let mut kept = Vec::new();
        let mut keep = |i: &mut u32| {
            *i = *renumber[*i as usize].get_or_insert_with(|| {
                kept.push(std::mem::take(&mut program.consts[*i as usize]));
                kept.len() as u32 - 1
            });
        };
        for op in &mut program.code {
            if let Op::Const(i) = op {
                keep(i);
            }
        }
        for table in &mut program.lookups {
            keep(&mut table.default);
            // In the order the values were written, so listings read like the source.
            let mut values: Vec<&mut u32> = table.values.values_mut().collect();
            values.sort_by_key(|i| **i);
            values.into_iter().for_each(&mut keep);
            *table = LookupTable::new(std::mem::take(&mut table.values), table.default);
        }
        program.consts = kept;
    }

    fn jumps_go_forward(&self) -> bool {
        let tables_ok = self
            .program
            .tables
            .iter()
            .all(|t| t.targets.values().all(|&x| x > 0));
        tables_ok
            && self
                .program
                .code
                .iter()
                .enumerate()
                .all(|(pc, op)| op.targets().into_iter().flatten().all(|t| t as usize > pc))
    }

    fn here(&self) -> u32 {
        self.program.code.len() as u32
    }

    fn emit(&mut self, op: Op, span: Span) -> usize {
        let effect: isize = match op {
            Op::Null | Op::Const(_) | Op::Load(_) => 1,
            Op::Call { argc, .. } => 1 - argc as isize,
            Op::JoinSlots { .. } => 1,
            Op::Compare(_) | Op::Branch { .. } | Op::Case(_) | Op::Pop | Op::SwitchTable(_) => -1,
            Op::Lookup(_) => 0,
            Op::LookupSlot { .. } => 1,
            Op::BranchSlot { .. } => 0,
            Op::JumpIfIgnored(_) | Op::Jump(_) | Op::JumpIfNotNull(_) | Op::Return => 0,
        };
        self.depth = self.depth.saturating_add_signed(effect);
        self.program.max_stack = self.program.max_stack.max(self.depth);
        self.program.code.push(op);
        self.program.spans.push(span);
        self.program.code.len() - 1
    }

    /// Points the jump at `at` to the current position.
    fn patch(&mut self, at: usize) {
        let here = self.here();
        match &mut self.program.code[at] {
            Op::Jump(t) | Op::JumpIfIgnored(t) | Op::JumpIfNotNull(t) | Op::Case(t) => *t = here,
            _ => unreachable!("only single-target jumps are patched"),
        }
    }

    fn constant(&mut self, value: Value<'static>, span: Span) {
        let index = self.constant_index(value);
        self.emit(Op::Const(index), span);
    }

    fn constant_index(&mut self, value: Value<'static>) -> u32 {
        let index = self
            .program
            .consts
            .iter()
            .position(|c| c == &value)
            .unwrap_or_else(|| {
                self.program.consts.push(value);
                self.program.consts.len() - 1
            });
        index as u32
    }

    fn expr(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Str(s) => self.constant(Value::string(s.to_string()), expr.span),
            ExprKind::Int(n) => self.constant(Value::Int(*n), expr.span),
            // Bare names only stand where a function expects one (vbTextCompare); the
            // function reads them as text.
            ExprKind::Ident(name) => self.constant(Value::string(name.to_string()), expr.span),
            ExprKind::Attr(name) => {
                let next = self.program.slots.len() as u32;
                let slot = *self.slot_index.entry(name.clone()).or_insert(next);
                if slot == next {
                    self.program.slots.push(name.clone());
                }
                self.emit(Op::Load(slot), expr.span);
            }
            ExprKind::Compare(cmp) => {
                self.expr(&cmp.lhs);
                self.expr(&cmp.rhs);
                self.emit(Op::Compare(cmp.op), cmp.op_span);
            }
            ExprKind::Call(call) => self.call(call, expr.span),
        }
    }

    fn arg(&mut self, call: &Call, i: usize) {
        match call.args.get(i) {
            Some(Arg { expr: Some(e), .. }) => self.expr(e),
            Some(arg) => {
                self.emit(Op::Null, arg.span);
            }
            None => {
                self.emit(Op::Null, call.name_span);
            }
        }
    }

    fn call(&mut self, call: &Call, span: Span) {
        let resolved = self
            .checked
            .calls
            .remove(&call.name_span.start)
            .expect("the checker resolved every call");
        match resolved.function.implementation {
            Implementation::Special(Special::Iif) => self.iif(call, span),
            Implementation::Special(Special::Switch) => self.switch(call, span),
            Implementation::Special(Special::Coalesce) => self.coalesce(call),
            Implementation::Native(f) | Implementation::Contextual(f) => {
                self.native(call, span, f, resolved)
            }
        }
    }

    /// Arguments known at compile time stay in the call site instead of being pushed
    /// for every record; a call with only such arguments is evaluated once, now.
    fn native(&mut self, call: &Call, span: Span, f: NativeFn, resolved: check::Resolved) {
        // Functions read a missing argument as null, so empty trailing slots
        // (`Replace(…, , )`) need no slot at all.
        let used = call
            .args
            .iter()
            .rposition(|a| a.expr.is_some())
            .map_or(0, |i| i + 1);
        let mut slots = Vec::with_capacity(used);
        let mut argc = 0;
        let args_start = self.program.code.len();
        for i in 0..used {
            let start = self.program.code.len();
            self.arg(call, i);
            match self.program.code[start..] {
                [Op::Null] => slots.push(Slot::Fixed(Value::Null)),
                [Op::Const(k)] if !matches!(self.program.consts[k as usize], Value::Ignored) => {
                    slots.push(Slot::Fixed(self.program.consts[k as usize].clone()))
                }
                _ => {
                    slots.push(Slot::Stack(argc));
                    argc += 1;
                    continue;
                }
            }
            self.program.code.truncate(start);
            self.program.spans.truncate(start);
            self.depth -= 1;
        }
        let site = CallSite {
            function: resolved.function,
            prepared: resolved.prepared,
            slots: slots.into(),
            span,
            arg_spans: call.args.iter().map(|a| a.span).collect(),
        };
        if argc == 0 && resolved.function.is_pure() {
            let ctx = Context::default();
            let mut rng = fastrand::Rng::with_seed(0);
            let mut args = Args {
                values: &mut [],
                slots: &site.slots,
                prepared: &site.prepared,
                ctx: &ctx,
                rng: &mut rng,
            };
            // A call that fails is kept, so that the error surfaces with its span.
            if let Ok(value) = f(&mut args).map(Value::into_owned) {
                self.constant(value, span);
                return;
            }
        }
        let site_index = self.program.sites.len() as u32;
        let join = self.join_plan(&site, args_start, argc);
        self.program.sites.push(site);
        match join {
            Some(plan) => {
                // The loads go: the fused instruction reads the attributes itself.
                self.program.code.truncate(args_start);
                self.program.spans.truncate(args_start);
                self.depth -= argc as usize;
                self.program.joins.push(plan);
                let join = self.program.joins.len() as u32 - 1;
                let site = site_index;
                self.emit(Op::JoinSlots { f, site, join }, span)
            }
            None => self.emit(
                Op::Call {
                    f,
                    site: site_index,
                    argc,
                },
                span,
            ),
        };
    }

    /// A `Join` of a constant separator and attributes only, as one instruction.
    fn join_plan(&self, site: &CallSite, args_start: usize, argc: u32) -> Option<JoinPlan> {
        if site.function.name != "Join" || argc == 0 {
            return None;
        }
        let separator = match site.slots.first()? {
            Slot::Fixed(Value::Str(s)) => s.to_string(),
            Slot::Fixed(Value::Null) => String::new(),
            _ => return None,
        };
        let loads = &self.program.code[args_start..];
        // Every source is an attribute, each its own stack argument, in order.
        let sources_are_loads = site.slots[1..].iter().enumerate().all(|(i, slot)| {
            matches!(slot, Slot::Stack(n) if *n as usize == i)
        }) && loads.len() == argc as usize;
        let slots = loads
            .iter()
            .map(|op| match op {
                Op::Load(slot) => Some(*slot),
                _ => None,
            })
            .collect::<Option<Box<[u32]>>>()?;
        sources_are_loads.then(|| JoinPlan {
            separator: separator.into(),
            slots,
        })
    }

    /// `cond; branch else/end; then; jump end; else: otherwise; end:`
    fn iif(&mut self, call: &Call, span: Span) {
        let test = self.condition(call);
        let branch = match (test, self.program.code.last()) {
            (Some(test), Some(&Op::Load(slot))) => {
                self.program.code.pop();
                self.program.spans.pop();
                self.depth -= 1;
                self.emit(
                    Op::BranchSlot {
                        test,
                        slot,
                        else_: 0,
                    },
                    call.args[0].span,
                )
            }
            _ => self.emit(
                Op::Branch {
                    test,
                    else_: 0,
                    end: 0,
                },
                call.args[0].span,
            ),
        };
        self.arg(call, 1);
        let to_end = self.emit(Op::Jump(0), span);
        self.depth -= 1;
        let else_ = self.here();
        self.arg(call, 2);
        self.patch(to_end);
        let end = self.here();
        match &mut self.program.code[branch] {
            Op::Branch {
                else_: e, end: n, ..
            } => (*e, *n) = (else_, end),
            Op::BranchSlot { else_: e, .. } => *e = else_,
            _ => unreachable!("the branch was emitted above"),
        }
    }

    /// Compiles IIF's condition. A presence test (`IsPresent([x])`) is left to the
    /// branch instruction: only its argument is compiled.
    fn condition(&mut self, call: &Call) -> Option<Presence> {
        if let Some(ExprKind::Call(inner)) = call.args[0].expr.as_ref().map(|e| &e.kind) {
            if let (
                Some(test),
                [Arg {
                    expr: Some(arg), ..
                }],
            ) = (
                self.checked
                    .calls
                    .get(&inner.name_span.start)
                    .and_then(|r| r.function.presence),
                inner.args.as_slice(),
            ) {
                self.checked.calls.remove(&inner.name_span.start);
                self.expr(arg);
                return Some(test);
            }
        }
        self.arg(call, 0);
        None
    }

    fn coalesce(&mut self, call: &Call) {
        let mut exits = Vec::new();
        let last = call.args.len() - 1;
        for i in 0..last {
            self.arg(call, i);
            exits.push(self.emit(Op::JumpIfNotNull(0), call.args[i].span));
            self.depth -= 1;
        }
        self.arg(call, last);
        for exit in exits {
            self.patch(exit);
        }
    }

    fn switch(&mut self, call: &Call, span: Span) {
        let pairs: Vec<usize> = (2..call.args.len()).step_by(2).collect();
        let keys: Option<Vec<String>> = pairs.iter().map(|&k| literal_key(call, k)).collect();
        let values: Option<Vec<Value<'static>>> = std::iter::once(1)
            .chain(pairs.iter().map(|&k| k + 1))
            .map(|i| literal_value(call, i))
            .collect();
        if let (Some(keys), Some(values)) = (&keys, values) {
            return self.switch_lookup(call, keys, values);
        }
        self.arg(call, 0);
        let ignored = self.emit(Op::JumpIfIgnored(0), span);
        let mut exits = Vec::new();
        match keys {
            Some(keys) if keys.len() >= TABLE_MIN_CASES => {
                let table = self.program.tables.len() as u32;
                self.program.tables.push(SwitchTable {
                    targets: FxHashMap::default(),
                    default: 0,
                });
                self.emit(Op::SwitchTable(table), call.args[0].span);
                self.program.tables[table as usize].default = self.here();
                self.arg(call, 1);
                exits.push(self.emit(Op::Jump(0), span));
                for (key, &k) in keys.into_iter().zip(&pairs) {
                    self.depth -= 1;
                    let target = self.here();
                    self.program.tables[table as usize]
                        .targets
                        .entry(key.into())
                        .or_insert(target);
                    self.arg(call, k + 1);
                    exits.push(self.emit(Op::Jump(0), span));
                }
            }
            _ => {
                let mut case_jumps = Vec::new();
                for &k in &pairs {
                    self.arg(call, k);
                    case_jumps.push(self.emit(Op::Case(0), call.args[0].span));
                }
                self.emit(Op::Pop, span);
                self.arg(call, 1);
                exits.push(self.emit(Op::Jump(0), span));
                for (&k, jump) in pairs.iter().zip(case_jumps) {
                    self.depth -= 1;
                    self.patch(jump);
                    self.arg(call, k + 1);
                    exits.push(self.emit(Op::Jump(0), span));
                }
            }
        }
        // The last jump to the end would jump to the next instruction.
        if let Some(last) = exits.pop() {
            self.program.code.truncate(last);
            self.program.spans.truncate(last);
        }
        for exit in exits {
            self.patch(exit);
        }
        self.patch(ignored);
    }

    /// A Switch whose keys, values and default are all constants is one lookup.
    fn switch_lookup(&mut self, call: &Call, keys: &[String], values: Vec<Value<'static>>) {
        let mut consts = values.into_iter().map(|v| self.constant_index(v));
        let default = consts.next().expect("the default slot always has a value");
        let mut values = FxHashMap::default();
        for (key, value) in keys.iter().zip(consts) {
            values.entry(key.as_str().into()).or_insert(value);
        }
        let table = LookupTable::new(values, default);
        self.program.lookups.push(table);
        let table = self.program.lookups.len() as u32 - 1;
        self.arg(call, 0);
        if let Some(&Op::Load(slot)) = self.program.code.last() {
            self.program.code.pop();
            self.program.spans.pop();
            self.depth -= 1;
            self.emit(Op::LookupSlot { table, slot }, call.args[0].span);
        } else {
            self.emit(Op::Lookup(table), call.args[0].span);
        }
    }
}

/// The value of an argument that is a constant (an empty slot is null).
fn literal_value(call: &Call, i: usize) -> Option<Value<'static>> {
    match call.args.get(i)?.expr.as_ref().map(|e| &e.kind) {
        None => Some(Value::Null),
        Some(ExprKind::Str(s)) => Some(Value::string(s.to_string())),
        Some(ExprKind::Int(n)) => Some(Value::Int(*n)),
        Some(_) => None,
    }
}

/// The text a constant Switch key is compared as (an empty slot is not a constant key).
fn literal_key(call: &Call, i: usize) -> Option<String> {
    literal_value(call, i)?
        .as_text()
        .map(|text| text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_calls_are_folded() {
        let program = Program::compile(r#"ConvertToBase64("Hello world!")"#).unwrap();
        assert_eq!(program.code.len(), 2);
        assert!(matches!(program.code[0], Op::Const(_)));
    }

    #[test]
    fn jumps_only_go_forward() {
        for src in [
            r#"IIF([a] = "x", Switch([b], , "1", "one", "2", "two"), Coalesce([c], [d], "e"))"#,
            r#"Switch([c], "?", "1", "a", "2", "b", "3", "c", "4", "d", "5", [e])"#,
        ] {
            let program = Program::compile(src).unwrap();
            let max_target = program.code.len() as u32;
            for (pc, op) in program.code.iter().enumerate() {
                for t in op.targets().into_iter().flatten() {
                    assert!(
                        t as usize > pc && t < max_target,
                        "{src}: jump at {pc} to {t}"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod lookup_tests {
    use crate::{Batch, Context, Program, Value};

    fn eval(source: &str, record: serde_json::Value) -> Value<'static> {
        let program = Program::compile(source).unwrap();
        let batch = Batch::from_json(&[record]).unwrap();
        program
            .eval_batch(&batch, &Context::default())
            .remove(0)
            .unwrap()
            .into_owned()
    }

    #[test]
    fn small_and_large_lookups_agree() {
        let keys = ["a", "a\u{0}", "seven77", "eight888", "ü", "", "01", "1"];
        let mut small = String::from("Switch([k], \"default\"");
        for (i, key) in keys.iter().enumerate() {
            small.push_str(&format!(", \"{key}\", \"v{i}\""));
        }
        let mut large = small.clone();
        for i in 0..20 {
            large.push_str(&format!(", \"filler{i}\", \"f{i}\""));
        }
        small.push(')');
        large.push(')');
        for (i, key) in keys.iter().enumerate() {
            let expected = Value::string(format!("v{i}"));
            assert_eq!(
                eval(&small, serde_json::json!({ "k": key })),
                expected,
                "{key:?}"
            );
            assert_eq!(
                eval(&large, serde_json::json!({ "k": key })),
                expected,
                "{key:?}"
            );
        }
        assert_eq!(
            eval(&small, serde_json::json!({"k": "b"})),
            Value::str("default")
        );
        assert_eq!(
            eval(&large, serde_json::json!({"k": "eight8888"})),
            Value::str("default")
        );
        assert_eq!(
            eval(&small, serde_json::json!({})),
            Value::str("v5"),
            "null matches the \"\" key"
        );
    }
}

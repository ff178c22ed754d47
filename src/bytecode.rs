//! The instruction set and the compiled program.

use std::fmt::{self, Write};

use rustc_hash::FxHashMap;

use crate::diagnostic::{Diagnostic, Span};
use crate::functions::{Function, NativeFn, Prepared, Presence, Slot};
use crate::syntax::ast::CmpOp;
use crate::value::Value;

/// One instruction of the stack machine. Every jump goes forward, so a program runs
/// each instruction at most once per record: evaluation time is bounded by program
/// length.
#[derive(Clone, Copy)]
pub enum Op {
    /// Push null (an argument slot left empty).
    Null,
    /// Push a constant.
    Const(u32),
    /// Push the value of an attribute slot for the current record.
    Load(u32),
    /// Pop `argc` arguments, call a native function, push its result. Arguments known
    /// at compile time are kept in the call site. Any ignored argument makes the
    /// result ignored without calling.
    Call {
        f: NativeFn,
        site: u32,
        argc: u32,
    },
    /// Pop two values, push the comparison's boolean.
    Compare(CmpOp),
    /// If the top of the stack is an ignored flow, jump (keeping it).
    JumpIfIgnored(u32),
    /// Pop a condition: go on when it is true, jump to `else_` when it is false; an
    /// ignored flow stays as the result and jumps to `end`. With a presence test, the
    /// popped value is what is tested (`IIF(IsPresent([x]), …)` in one instruction).
    Branch {
        test: Option<Presence>,
        else_: u32,
        end: u32,
    },
    /// A presence test of an attribute as the condition: no value goes through the
    /// stack, and an attribute is never an ignored flow.
    BranchSlot {
        test: Presence,
        slot: u32,
        else_: u32,
    },
    Jump(u32),
    /// If the top of the stack is not null, jump (keeping it); otherwise pop it.
    JumpIfNotNull(u32),
    /// Pop a Switch source and jump to the target its table gives.
    SwitchTable(u32),
    /// Replace a Switch source with the constant its lookup table gives.
    Lookup(u32),
    /// `Load(slot)` then `Lookup(table)` in one step: a Switch over an attribute.
    LookupSlot {
        table: u32,
        slot: u32,
    },
    /// Pop a key; if it equals the Switch source below it, pop the source and jump.
    Case(u32),
    /// `Join` of a constant separator and attributes, in one step: it reads the
    /// attributes' strings where they are and writes the result once. A value that is
    /// not a string or null (a list, a number), or a result past the limit, takes the
    /// general way: the attributes pushed and `f` called at `site`, as `Call` does.
    JoinSlots {
        f: NativeFn,
        site: u32,
        join: u32,
    },
    Pop,
    Return,
}

impl Op {
    /// Where this instruction may jump to.
    pub fn targets(self) -> [Option<u32>; 2] {
        match self {
            Op::Jump(t) | Op::JumpIfIgnored(t) | Op::JumpIfNotNull(t) | Op::Case(t) => {
                [Some(t), None]
            }
            Op::Branch { else_, end, .. } => [Some(else_), Some(end)],
            Op::BranchSlot { else_, .. } => [Some(else_), None],
            _ => [None, None],
        }
    }
}

/// A call site: the function, what was prepared for it at compile time, and where
/// its arguments are in the source (so evaluation errors can point at them).
pub struct CallSite {
    pub function: &'static Function,
    pub prepared: Prepared,
    /// Where each argument comes from: the stack, or a value fixed at compile time.
    pub slots: Box<[Slot]>,
    pub span: Span,
    pub arg_spans: Box<[Span]>,
}

/// What a `JoinSlots` joins: the separator and the attribute slots.
pub struct JoinPlan {
    pub separator: Box<str>,
    pub slots: Box<[u32]>,
}

/// The cases of a Switch whose keys are all constants.
pub struct SwitchTable {
    pub targets: FxHashMap<Box<str>, u32>,
    pub default: u32,
}

/// A Switch whose results are all constants: key → constant index.
pub struct LookupTable {
    pub values: FxHashMap<Box<str>, u32>,
    pub default: u32,
    /// When there are few cases and every key is at most 7 bytes (country codes,
    /// status flags), the keys packed into integers: comparing those in turn beats
    /// hashing the key.
    pub packed: Option<Vec<(u64, u32)>>,
}

impl LookupTable {
    const PACKED_MAX: usize = 16;

    pub fn new(values: FxHashMap<Box<str>, u32>, default: u32) -> LookupTable {
        let packed = (values.len() <= Self::PACKED_MAX)
            .then(|| {
                values
                    .iter()
                    .map(|(k, v)| pack(k).map(|p| (p, *v)))
                    .collect::<Option<Vec<_>>>()
            })
            .flatten();
        LookupTable {
            values,
            default,
            packed,
        }
    }

    #[inline]
    pub fn get(&self, key: &str) -> u32 {
        match (&self.packed, pack(key)) {
            (Some(cases), Some(key)) => cases
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(self.default, |(_, v)| *v),
            (Some(_), None) => self.default,
            (None, _) => self.get_hashed(key),
        }
    }

    /// Out of line, so that the packed way, inlined where it is used, does not pay
    /// for the registers hashing needs.
    #[inline(never)]
    fn get_hashed(&self, key: &str) -> u32 {
        self.values.get(key).copied().unwrap_or(self.default)
    }
}

/// Up to 7 bytes and their count in one integer, so equal integers mean equal strings.
#[inline]
fn pack(s: &str) -> Option<u64> {
    let bytes = s.as_bytes();
    if bytes.len() > 7 {
        return None;
    }
    // A shift loop, not a copy into a buffer: it compiles to a few instructions
    // instead of a call to memcpy.
    let packed = bytes
        .iter()
        .enumerate()
        .fold(0u64, |acc, (i, &b)| acc | (b as u64) << (8 * i));
    Some(packed | (bytes.len() as u64) << 56)
}

/// A compiled expression: compile once, evaluate over any number of batches.
///
/// ```
/// let program = scimap::Program::compile(r#"Join(" ", [givenName], [surname])"#).unwrap();
/// assert_eq!(program.attributes().collect::<Vec<_>>(), ["givenName", "surname"]);
/// ```
pub struct Program {
    pub(crate) source: Box<str>,
    pub(crate) code: Vec<Op>,
    pub(crate) spans: Vec<Span>,
    pub(crate) consts: Vec<Value<'static>>,
    pub(crate) slots: Vec<Box<str>>,
    pub(crate) sites: Vec<CallSite>,
    pub(crate) tables: Vec<SwitchTable>,
    pub(crate) lookups: Vec<LookupTable>,
    pub(crate) joins: Vec<JoinPlan>,
    pub(crate) max_stack: usize,
    pub(crate) redacted: bool,
    /// The function the whole expression is a call of.
    pub(crate) root: Option<&'static Function>,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl Program {
    /// The expression this program was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The function the whole expression is a call of, if it is one:
    ///
    /// ```
    /// let program = scimap::Program::compile(r#"SelectUniqueValue([a], [b])"#).unwrap();
    /// assert!(program.root().is_some_and(|f| f.asks_target));
    /// assert!(scimap::Program::compile("[a]").unwrap().root().is_none());
    /// ```
    pub fn root(&self) -> Option<&'static Function> {
        self.root
    }

    /// The source attributes the expression reads, in order of first use.
    pub fn attributes(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().map(|s| &**s)
    }

    /// Warnings found while checking (documented Entra pitfalls, unknown escapes).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Each attribute the expression reads, with where it is first read.
    pub fn attribute_uses(&self) -> impl Iterator<Item = (&str, Span)> {
        self.slots
            .iter()
            .enumerate()
            .map(|(slot, name)| (&**name, self.first_load(slot as u32).unwrap_or_default()))
    }

    /// The attribute, when the whole expression is one attribute (`[mail]`): what
    /// the portal calls a direct mapping.
    pub fn direct_attribute(&self) -> Option<&str> {
        match self.code.as_slice() {
            [Op::Load(slot), Op::Return] => Some(&self.slots[*slot as usize]),
            _ => None,
        }
    }

    /// The value, when the whole expression is a constant (`"Employee"`), folded
    /// calls included.
    pub fn constant(&self) -> Option<&Value<'static>> {
        match self.code.as_slice() {
            [Op::Const(index), Op::Return] => Some(&self.consts[*index as usize]),
            _ => None,
        }
    }

    fn first_load(&self, slot: u32) -> Option<Span> {
        self.code
            .iter()
            .position(|op| matches!(op, Op::Load(s) if *s == slot))
            .map(|pc| self.spans[pc])
    }

    /// Whether the expression uses `Redact`, so logs must not show its result.
    pub fn is_redacted(&self) -> bool {
        self.redacted
    }

    /// A stable, human-readable listing of the bytecode.
    pub fn disassemble(&self) -> String {
        let mut out = String::new();
        self.write_listing(&mut out)
            .expect("writing to a String cannot fail");
        out
    }

    fn write_listing(&self, out: &mut String) -> fmt::Result {
        if !self.slots.is_empty() {
            writeln!(out, "slots:")?;
            for (i, name) in self.slots.iter().enumerate() {
                writeln!(out, "  {i:<4} [{name}]")?;
            }
        }
        if !self.consts.is_empty() {
            writeln!(out, "consts:")?;
            for (i, value) in self.consts.iter().enumerate() {
                writeln!(out, "  {i:<4} {}", const_text(value))?;
            }
        }
        for (i, table) in self.tables.iter().enumerate() {
            writeln!(out, "table {i}:")?;
            let mut cases: Vec<(&Box<str>, &u32)> = table.targets.iter().collect();
            cases.sort_by_key(|(key, target)| (**target, key.to_string()));
            for (key, target) in cases {
                writeln!(out, "  {key:?} -> {target:04}")?;
            }
            writeln!(out, "  default -> {:04}", table.default)?;
        }
        for (i, table) in self.lookups.iter().enumerate() {
            writeln!(out, "lookup {i}:")?;
            let mut cases: Vec<(&Box<str>, &u32)> = table.values.iter().collect();
            cases.sort_by_key(|(key, value)| (**value, key.to_string()));
            for (key, value) in cases {
                writeln!(
                    out,
                    "  {key:?} -> {}",
                    const_text(&self.consts[*value as usize])
                )?;
            }
            writeln!(
                out,
                "  default -> {}",
                const_text(&self.consts[table.default as usize])
            )?;
        }
        writeln!(out, "code:")?;
        for (pc, op) in self.code.iter().enumerate() {
            write!(out, "  {pc:04}  ")?;
            match *op {
                Op::Null => writeln!(out, "null"),
                Op::Const(i) => writeln!(
                    out,
                    "const      {i:<5} ; {}",
                    const_text(&self.consts[i as usize])
                ),
                Op::Load(i) => writeln!(out, "load       {i:<5} ; [{}]", self.slots[i as usize]),
                Op::Call { site, .. } => {
                    let site = &self.sites[site as usize];
                    let args: Vec<String> = site
                        .slots
                        .iter()
                        .map(|slot| match slot {
                            Slot::Stack(n) => format!("@{n}"),
                            Slot::Fixed(value) => const_text(value),
                        })
                        .collect();
                    writeln!(
                        out,
                        "call       {}({})",
                        site.function.name,
                        args.join(", ")
                    )
                }
                Op::Compare(cmp) => writeln!(out, "compare    {}", cmp.symbol()),
                Op::JumpIfIgnored(t) => writeln!(out, "jump.ign   {t:04}"),
                Op::Branch {
                    test: None,
                    else_,
                    end,
                } => writeln!(out, "branch     {else_:04} ign {end:04}"),
                Op::Branch {
                    test: Some(test),
                    else_,
                    end,
                } => {
                    writeln!(out, "branch     {else_:04} ign {end:04} ; unless {test:?}")
                }
                Op::BranchSlot { test, slot, else_ } => {
                    let name = &self.slots[slot as usize];
                    writeln!(
                        out,
                        "branch     {else_:04}          ; unless {test:?} [{name}]"
                    )
                }
                Op::Jump(t) => writeln!(out, "jump       {t:04}"),
                Op::JumpIfNotNull(t) => writeln!(out, "jump.some  {t:04}"),
                Op::SwitchTable(t) => writeln!(out, "switch     table {t}"),
                Op::Case(t) => writeln!(out, "case       {t:04}"),
                Op::Lookup(t) => writeln!(out, "lookup     {t}"),
                Op::LookupSlot { table, slot } => {
                    writeln!(
                        out,
                        "lookup     {table}     ; [{}]",
                        self.slots[slot as usize]
                    )
                }
                Op::JoinSlots { join, .. } => {
                    let plan = &self.joins[join as usize];
                    let names: Vec<String> = plan
                        .slots
                        .iter()
                        .map(|&slot| format!("[{}]", self.slots[slot as usize]))
                        .collect();
                    writeln!(
                        out,
                        "join       {:?} ; {}",
                        &*plan.separator,
                        names.join(", ")
                    )
                }
                Op::Pop => writeln!(out, "pop"),
                Op::Return => writeln!(out, "return"),
            }?;
        }
        Ok(())
    }
}

fn const_text(value: &Value<'_>) -> String {
    match value {
        Value::Str(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

//! Whole programs of the commonest shapes, recognised once per program and run
//! without the dispatch loop. For a program of one or two instructions, setting up
//! the loop, the stack and the result costs several times the work itself.

use crate::bytecode::{Op, Program};
use crate::functions::Presence;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// `[mail]`: the attribute as it is.
    Attribute(u32),
    /// `Switch([country], …)` with constant keys and values: one table lookup.
    Lookup { table: u32, slot: u32 },
    /// `Join(" ", [givenName], [surname])`.
    Join(u32),
    /// `IIF(IsPresent([department]), [department], "none")`: one presence test
    /// choosing between attributes or constants.
    Choose {
        test: Presence,
        slot: u32,
        then: Leaf,
        otherwise: Leaf,
    },
    /// Anything else: the dispatch loop.
    General,
}

/// An operand that needs no evaluation: an attribute or a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Leaf {
    Load(u32),
    Const(u32),
}

impl Leaf {
    fn of(op: &Op) -> Option<Leaf> {
        match *op {
            Op::Load(slot) => Some(Leaf::Load(slot)),
            Op::Const(index) => Some(Leaf::Const(index)),
            _ => None,
        }
    }
}

impl Shape {
    pub(super) fn of(program: &Program) -> Shape {
        match *program.code.as_slice() {
            [Op::Load(slot), Op::Return] => Shape::Attribute(slot),
            [Op::LookupSlot { table, slot }, Op::Return] => Shape::Lookup { table, slot },
            [Op::JoinSlots { join, .. }, Op::Return] => Shape::Join(join),
            [Op::BranchSlot {
                test,
                slot,
                else_: 3,
            }, ref then, Op::Jump(4), ref otherwise, Op::Return] => {
                match (Leaf::of(then), Leaf::of(otherwise)) {
                    (Some(then), Some(otherwise)) => Shape::Choose {
                        test,
                        slot,
                        then,
                        otherwise,
                    },
                    _ => Shape::General,
                }
            }
            _ => Shape::General,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::Evaluator;
    use crate::{Batch, Context};

    fn shape(source: &str) -> Shape {
        Shape::of(&Program::compile(source).unwrap())
    }

    #[test]
    fn the_common_shapes_are_recognised() {
        assert_eq!(shape("[mail]"), Shape::Attribute(0));
        assert!(matches!(
            shape(r#"Switch([c], "?", "US", "United States", "DE", "Germany")"#),
            Shape::Lookup { slot: 0, .. }
        ));
        assert!(matches!(
            shape(r#"Join(" ", [givenName], [surname])"#),
            Shape::Join(_)
        ));
        assert_eq!(
            shape(r#"IIF(IsPresent([department]), [department], "none")"#),
            Shape::Choose {
                test: Presence::IsPresent,
                slot: 0,
                then: Leaf::Load(0),
                otherwise: Leaf::Const(0),
            }
        );
        assert_eq!(shape(r#"ToLower([mail])"#), Shape::General);
        assert_eq!(
            shape(r#"IIF(IsPresent([d]), ToLower([d]), "none")"#),
            Shape::General
        );
    }

    /// Each fast way gives what the loop gives, on every kind of value, errors
    /// included (a list where a Switch wants a text falls through to the loop).
    #[test]
    fn the_fast_ways_agree_with_the_loop() {
        let records = serde_json::json!([
            {"a": "US", "b": "x"},
            {"a": "", "b": ""},
            {"a": null},
            {},
            {"a": ["US", "DE"], "b": ["p", "q"]},
            {"a": {"k": "v"}, "b": 5},
            {"a": "a-long-key-for-packing", "b": true},
        ]);
        let batch = Batch::from_json(records.as_array().unwrap()).unwrap();
        let ctx = Context::default();
        for source in [
            "[a]",
            r#"Switch([a], "?", "US", "United States", "", "empty", "a-long-key-for-packing", "long")"#,
            r#"Join(", ", [a], [b])"#,
            r#"IIF(IsPresent([a]), [a], "none")"#,
            r#"IIF(IsNullOrEmpty([a]), [b], [a])"#,
            r#"IIF(IsNull([b]), "no b", [b])"#,
        ] {
            let program = Program::compile(source).unwrap();
            assert_ne!(Shape::of(&program), Shape::General, "{source}");
            let mut fast = Evaluator::new(&program, &batch, &ctx);
            let mut general = Evaluator::new(&program, &batch, &ctx);
            general.shape = Shape::General;
            for row in 0..batch.len() {
                assert_eq!(
                    fast.eval(row, &ctx),
                    general.eval(row, &ctx),
                    "{source}, record {row}"
                );
            }
        }
    }
}

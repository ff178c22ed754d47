//! Snapshot tests over the files in `tests/cases/`: adding a case is adding a file.
//! - `ok/*.expr`: the syntax tree, the bytecode listing and any warnings.
//! - `err/*.expr`: every diagnostic, rendered as the CLI shows it.
//! - `eval/*.txt`: a JSON record, a `---` line, an expression; the result or the
//!   rendered evaluation error.

use scimap::{Batch, Context, Program};

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).expect("case files are readable")
}

#[test]
fn compiled_expressions() {
    insta::glob!("cases/ok/*.expr", |path| {
        let source = read(path);
        let tree = scimap::syntax::parse(&source)
            .expect("ok cases parse")
            .expr
            .pretty();
        let program = Program::compile(&source)
            .unwrap_or_else(|d| panic!("{}", d.render(&source, "case", false)));
        let warnings: Vec<String> = program
            .warnings()
            .iter()
            .map(|w| w.render(&source, "case", false))
            .collect();
        insta::assert_snapshot!(format!(
            "{source}\n\n--- syntax\n{tree}\n--- bytecode\n{}\n--- warnings\n{}",
            program.disassemble(),
            warnings.join("\n")
        ));
    });
}

#[test]
fn diagnostics() {
    insta::glob!("cases/err/*.expr", |path| {
        let source = read(path);
        let diagnostics = Program::compile(&source).expect_err("err cases fail to compile");
        insta::assert_snapshot!(format!(
            "{source}\n\n{}",
            diagnostics.render(&source, "case", false)
        ));
    });
}

#[test]
fn evaluation_errors() {
    insta::glob!("cases/eval/*.txt", |path| {
        let text = read(path);
        let (record, source) = text
            .split_once("\n---\n")
            .expect("eval cases have a record, ---, an expression");
        let record: serde_json::Value = serde_json::from_str(record).expect("the record is JSON");
        let batch = Batch::from_json(&[record]).expect("the record is valid");
        let program = Program::compile(source).expect("eval cases compile");
        let rendered = match program.eval_batch(&batch, &Context::default()).remove(0) {
            Ok(value) => format!("value: {value:?}"),
            Err(error) => error.diagnostic().render(source, "case", false),
        };
        insta::assert_snapshot!(format!("{source}\n\n{rendered}"));
    });
}

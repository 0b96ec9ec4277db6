#![no_main]
// The XML writer's output is well-formed whatever text it holds, and says exactly that text, but for the
// characters XML 1.0 cannot carry at all, which become U+FFFD.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (xml, texts) = civic311::fuzzing::xml(data);
    let text = String::from_utf8(xml).expect("the writer writes UTF-8");
    let doc = roxmltree::Document::parse(&text).expect("the writer writes well-formed XML");
    let written: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("description"))
        .map(|n| n.text().unwrap_or("").to_string())
        .collect();
    assert_eq!(written.len(), texts.len());
    for (w, t) in written.iter().zip(&texts) {
        let expected: String = t
            .chars()
            .map(|c| match c {
                '\t' | '\n' | '\r' => c,
                c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
                c => c,
            })
            .collect();
        assert_eq!(*w, expected, "{t:?}");
    }
});

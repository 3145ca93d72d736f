//! Any word through the shared expander, in every mode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_common::shell::Lex;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(word) = std::str::from_utf8(data) else {
        return;
    };
    let env: HashMap<String, String> = [("A", "abc"), ("E", ""), ("S", "a b  c")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for escape in ['\\', '`'] {
        let mut lex = Lex::new(escape);
        let _ = lex.process_word(word, &env);
        let _ = lex.process_words(word, &env);
        lex.raw_quotes = true;
        lex.raw_escapes = true;
        lex.skip_unset_env = true;
        let _ = lex.process_words(word, &env);
    }
});

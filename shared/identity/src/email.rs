//! Email addresses, parsed once into the one form stored, compared and looked up. Normalisation, in order:
//!
//! 1. surrounding whitespace is trimmed;
//! 2. width mapping: the Halfwidth and Fullwidth Forms (U+FF00–U+FFEF) become their ordinary forms
//!    (`ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ` is `ann@example.com`), as PRECIS's UsernameCaseMapped profile does
//!    (RFC 8265 §3.3.1): wide forms are what an East Asian input method types, never a different address;
//! 3. lower-casing (Unicode's full mapping), so uniqueness and login are case-insensitive (`Ann@Example.com`
//!    and `ann@example.com` are one account);
//! 4. NFC, so a combining sequence and its precomposed character are one address (`a` + U+0308 is `ä`).
//!
//! NFKC is *not* applied: it folds characters that are different mailboxes to a mail server (`ﬁ` and `fi`,
//! `²` and `2`, `𝐚` and `a`, `ª` and `a`), so folding would merge two people's accounts, and it would let a
//! look-alike stand for an existing address. Instead an address with such compatibility characters (any whose
//! NFKC form differs from its NFC form, after the width mapping) is refused, as PRECIS's IdentifierClass
//! refuses them.
//!
//! Refused outright, because they are invisible or reorder what is displayed, so `root\u{200B}@example.com`
//! would show as `root@example.com`: every character of general category Cf (format: zero-width space and
//! joiners, bidi marks, embeddings, overrides and isolates, the soft hyphen, tag characters, …), every other
//! Default_Ignorable_Code_Point (variation selectors, Hangul fillers, the combining grapheme joiner, …), and
//! private-use characters. Control characters and whitespace were already refused.
//!
//! Homoglyphs: a local part or a domain label that mixes Latin, Greek and Cyrillic letters is refused
//! (`pаypal@example.com` with a Cyrillic `а`, U+0430): a mixed-script name is the classic spoof and no real
//! address needs one. A name wholly in one script stays its own account even where it looks like another
//! (the all-Cyrillic `рор` beside the Latin `pop`): they are different mailboxes, and folding confusables
//! (UTS #39 skeletons) would hand one person's account to another. Nothing is folded across scripts.
//!
//! Only the common dot-atom form is accepted: quoted local parts and IP-literal domains are legal in RFC 5321
//! but unused by real sign-ups and a classic source of parser confusion.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("email {0}")]
pub struct InvalidEmail(&'static str);

/// RFC 5321's limits: 254 characters in all (a path of 256 minus the angle brackets), 64 before the `@`.
const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
const MAX_LABEL_LEN: usize = 63;
/// Characters that need quoting in an address, never accepted here.
const SPECIALS: &str = "\"(),:;<>[]\\";

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let email: String = narrow(raw.trim()).to_lowercase().nfc().collect();
        if email.is_empty() || email.len() > MAX_LEN {
            return Err(InvalidEmail("must be 1 to 254 characters"));
        }
        if email.chars().any(invisible) {
            return Err(InvalidEmail("contains an invisible or formatting character"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control() || SPECIALS.contains(c)) {
            return Err(InvalidEmail("contains a character that is not allowed"));
        }
        if !email.nfkc().eq(email.chars()) {
            return Err(InvalidEmail("contains a compatibility character (a ligature, superscript or styled letter)"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(InvalidEmail("must contain @"));
        };
        if domain.contains('@') {
            return Err(InvalidEmail("must contain exactly one @"));
        }
        if local.is_empty() || local.len() > MAX_LOCAL_LEN || !dot_atom(local) {
            return Err(InvalidEmail("has an invalid part before the @"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let valid_label = |l: &&str| {
            !l.is_empty()
                && l.len() <= MAX_LABEL_LEN
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(valid_label) {
            return Err(InvalidEmail("has an invalid domain"));
        }
        if mixed_script(local) || labels.iter().any(|l| mixed_script(l)) {
            return Err(InvalidEmail("mixes Latin, Greek or Cyrillic letters in one name"));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@` (for the password policy's context words).
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

/// Dots separate non-empty atoms: no leading, trailing or doubled dot.
fn dot_atom(part: &str) -> bool {
    part.split('.').all(|atom| !atom.is_empty())
}

/// Width mapping: each character of the Halfwidth and Fullwidth Forms block becomes its `<wide>` or `<narrow>`
/// decomposition (the only compatibility decompositions in that block); everything else is kept.
fn narrow(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if ('\u{FF00}'..='\u{FFEF}').contains(&c) {
            out.extend(std::iter::once(c).nfkc());
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that display as nothing or change how their neighbours display.
fn invisible(c: char) -> bool {
    FORMAT.iter().chain(OTHER_DEFAULT_IGNORABLE).chain(PRIVATE_USE).any(|range| range.contains(&c))
}

/// General category Cf (format), Unicode 15.0 (170 code points).
const FORMAT: &[std::ops::RangeInclusive<char>] = &[
    '\u{00AD}'..='\u{00AD}',   // soft hyphen
    '\u{0600}'..='\u{0605}',   // Arabic number signs
    '\u{061C}'..='\u{061C}',   // Arabic letter mark
    '\u{06DD}'..='\u{06DD}',   // Arabic end of ayah
    '\u{070F}'..='\u{070F}',   // Syriac abbreviation mark
    '\u{0890}'..='\u{0891}',   // Arabic pound and piastre marks above
    '\u{08E2}'..='\u{08E2}',   // Arabic disputed end of ayah
    '\u{180E}'..='\u{180E}',   // Mongolian vowel separator
    '\u{200B}'..='\u{200F}',   // zero-width space, ZWNJ, ZWJ, left-to-right and right-to-left marks
    '\u{202A}'..='\u{202E}',   // bidi embeddings and overrides
    '\u{2060}'..='\u{2064}',   // word joiner, invisible function application, times, separator, plus
    '\u{2066}'..='\u{206F}',   // bidi isolates, deprecated format characters
    '\u{FEFF}'..='\u{FEFF}',   // zero-width no-break space (byte order mark)
    '\u{FFF9}'..='\u{FFFB}',   // interlinear annotation
    '\u{110BD}'..='\u{110BD}', // Kaithi number sign
    '\u{110CD}'..='\u{110CD}', // Kaithi number sign above
    '\u{13430}'..='\u{1343F}', // Egyptian hieroglyph format controls
    '\u{1BCA0}'..='\u{1BCA3}', // shorthand format controls
    '\u{1D173}'..='\u{1D17A}', // musical symbol beam, tie, slur and phrase controls
    '\u{E0001}'..='\u{E0001}', // language tag
    '\u{E0020}'..='\u{E007F}', // tag characters
];

/// The rest of Default_Ignorable_Code_Point (Unicode 15.0, DerivedCoreProperties.txt) beyond category Cf,
/// including its reserved ranges: invisible whatever their category.
const OTHER_DEFAULT_IGNORABLE: &[std::ops::RangeInclusive<char>] = &[
    '\u{034F}'..='\u{034F}',   // combining grapheme joiner
    '\u{115F}'..='\u{1160}',   // Hangul choseong and jungseong fillers
    '\u{17B4}'..='\u{17B5}',   // Khmer inherent vowels
    '\u{180B}'..='\u{180D}',   // Mongolian free variation selectors
    '\u{180F}'..='\u{180F}',   // Mongolian free variation selector four
    '\u{2065}'..='\u{2065}',   // reserved
    '\u{3164}'..='\u{3164}',   // Hangul filler
    '\u{FE00}'..='\u{FE0F}',   // variation selectors
    '\u{FFA0}'..='\u{FFA0}',   // halfwidth Hangul filler
    '\u{FFF0}'..='\u{FFF8}',   // reserved
    '\u{E0000}'..='\u{E0000}', // reserved
    '\u{E0002}'..='\u{E001F}', // reserved
    '\u{E0080}'..='\u{E0FFF}', // variation selectors supplement, reserved
];

/// Private use (category Co): no agreed glyph, so anything can be drawn for them.
const PRIVATE_USE: &[std::ops::RangeInclusive<char>] =
    &['\u{E000}'..='\u{F8FF}', '\u{F0000}'..='\u{FFFFD}', '\u{100000}'..='\u{10FFFD}'];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
}

/// The three scripts whose letters are each other's classic look-alikes, by block (letters only: digits,
/// punctuation and combining marks belong to no script here).
fn script(c: char) -> Option<Script> {
    if !c.is_alphabetic() {
        return None;
    }
    match c {
        'a'..='z'
        | 'A'..='Z'
        | '\u{00C0}'..='\u{024F}'
        | '\u{0250}'..='\u{02AF}'
        | '\u{1E00}'..='\u{1EFF}'
        | '\u{2C60}'..='\u{2C7F}'
        | '\u{A720}'..='\u{A7FF}'
        | '\u{AB30}'..='\u{AB6F}' => Some(Script::Latin),
        '\u{0370}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}' => Some(Script::Greek),
        '\u{0400}'..='\u{052F}' | '\u{1C80}'..='\u{1C8F}' | '\u{2DE0}'..='\u{2DFF}' | '\u{A640}'..='\u{A69F}' => {
            Some(Script::Cyrillic)
        }
        _ => None,
    }
}

/// Whether a name has letters of more than one of Latin, Greek and Cyrillic.
fn mixed_script(name: &str) -> bool {
    let mut scripts = name.chars().filter_map(script);
    let Some(first) = scripts.next() else {
        return false;
    };
    scripts.any(|s| s != first)
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn an_email_is_trimmed_and_lower_cased() {
        assert_eq!(Email::parse("  Ann.Lee+news@Example.COM ").unwrap().as_str(), "ann.lee+news@example.com");
    }

    #[test]
    fn emails_differing_only_in_case_are_equal() {
        assert_eq!(Email::parse("ANN@EXAMPLE.COM").unwrap(), Email::parse("ann@example.com").unwrap());
    }

    #[test]
    fn common_valid_forms_are_accepted() {
        for ok in ["a@b.co", "first.last@sub.example.org", "x_y-z@my-domain.io", "ünïcode@exämple.de"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn malformed_emails_are_rejected() {
        let too_long = format!("{}@example.com", "a".repeat(250));
        let long_local = format!("{}@example.com", "a".repeat(65));
        let bad = [
            "",
            "   ",
            "plainaddress",
            "@example.com",
            "ann@",
            "ann@localhost",
            "ann@@example.com",
            "a@b@example.com",
            "ann lee@example.com",
            "ann@exa mple.com",
            ".ann@example.com",
            "ann.@example.com",
            "an..n@example.com",
            "ann@example..com",
            "ann@-example.com",
            "ann@example-.com",
            "\"ann\"@example.com",
            "ann@[127.0.0.1]",
            "ann\u{0}@example.com",
            too_long.as_str(),
            long_local.as_str(),
        ];
        for raw in bad {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be rejected");
        }
    }

    #[test]
    fn invisible_and_formatting_characters_are_refused_anywhere() {
        let invisible = [
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{2060}',
            '\u{2063}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{061C}',
            '\u{180E}',
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{206F}',
            '\u{E0001}',
            '\u{E0041}',
            '\u{E007F}',
            '\u{034F}',
            '\u{FE0F}',
            '\u{E0100}',
            '\u{3164}',
            '\u{FFA0}',
            '\u{115F}',
            '\u{E000}',
            '\u{F0000}',
        ];
        for c in invisible {
            for raw in [format!("root{c}@example.com"), format!("{c}root@example.com"), format!("root@exam{c}ple.com")]
            {
                let error = Email::parse(&raw).unwrap_err();
                assert_eq!(error, InvalidEmail("contains an invisible or formatting character"), "{raw:?}");
            }
        }
    }

    #[test]
    fn the_format_table_is_unicode_15s_category_cf() {
        let count: u32 = FORMAT.iter().map(|r| u32::from(*r.end()) - u32::from(*r.start()) + 1).sum();
        assert_eq!(count, 170);
        let ordered = FORMAT.windows(2).all(|w| w[0].end() < w[1].start());
        assert!(ordered, "ranges are sorted and disjoint");
    }

    #[test]
    fn fullwidth_forms_are_their_ordinary_characters() {
        let wide = Email::parse("ＡＮＮ．ＬＥＥ＠ＥＸＡＭＰＬＥ．ＣＯＭ").unwrap();
        assert_eq!(wide, Email::parse("ann.lee@example.com").unwrap());
        // Halfwidth katakana with a voiced mark: mapped, then composed by NFC.
        assert_eq!(Email::parse("ｶﾞ@example.jp").unwrap().as_str(), "ガ@example.jp");
        // A fullwidth special is still a special once mapped.
        assert!(Email::parse("ann＂@example.com").is_err());
    }

    #[test]
    fn a_combining_sequence_and_its_precomposed_character_are_one_address() {
        let composed = Email::parse("änn@exämple.de").unwrap();
        assert_eq!(Email::parse("a\u{0308}nn@exa\u{0308}mple.de").unwrap(), composed);
        assert_eq!(Email::parse("A\u{0308}NN@EXA\u{0308}MPLE.DE").unwrap(), composed);
        assert_eq!(composed.as_str(), "\u{00E4}nn@ex\u{00E4}mple.de");
    }

    #[test]
    fn compatibility_characters_are_refused_not_folded() {
        for raw in
            ["\u{FB01}le@example.com", "x\u{00B2}@example.com", "\u{1D41A}nn@example.com", "\u{24D0}nn@example.com"]
        {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be refused");
        }
        // The micro sign is not the Greek mu it looks like (and NFKC maps it to).
        assert!(Email::parse("\u{00B5}@example.com").is_err());
        assert!(Email::parse("\u{03BC}@example.com").is_ok());
    }

    #[test]
    fn a_name_mixing_latin_greek_or_cyrillic_letters_is_refused() {
        for raw in [
            "p\u{0430}ypal@example.com",    // Cyrillic а among Latin letters
            "paypal@ex\u{0430}mple.com",    // … in a domain label
            "\u{03BF}scar@example.com",     // Greek ο among Latin letters
            "\u{0440}\u{03BF}@example.com", // Cyrillic р with Greek ο
        ] {
            let error = Email::parse(raw).unwrap_err();
            assert_eq!(error, InvalidEmail("mixes Latin, Greek or Cyrillic letters in one name"), "{raw:?}");
        }
    }

    #[test]
    fn a_name_wholly_in_one_script_is_its_own_account() {
        let cyrillic = Email::parse("\u{0440}\u{043E}\u{0440}@example.com").unwrap(); // "рор"
        let latin = Email::parse("pop@example.com").unwrap();
        assert_ne!(cyrillic, latin);
        // One script per name: a Cyrillic domain label beside a Latin one, digits and punctuation with any.
        for ok in
            ["\u{0430}\u{043D}\u{043D}@\u{043F}\u{0440}\u{0438}\u{043C}\u{0435}\u{0440}.com", "ann-2.0@example.com"]
        {
            assert!(Email::parse(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn parsing_a_parsed_email_changes_nothing() {
        for raw in [
            "  Ann@Example.COM",
            "ＡＮＮ＠ＥＸＡＭＰＬＥ．ＣＯＭ",
            "A\u{0308}nn@example.de",
            "\u{0130}nci@example.com.tr",
        ] {
            let once = Email::parse(raw).unwrap();
            assert_eq!(Email::parse(once.as_str()).unwrap(), once, "{raw:?}");
        }
    }

    #[test]
    fn the_local_part_is_what_precedes_the_at() {
        assert_eq!(Email::parse("ann@example.com").unwrap().local_part(), "ann");
    }
}

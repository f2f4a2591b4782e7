//! Expression classes and the explicit mapping between the label orders of the datasets.
//!
//! Every dataset numbers its classes differently (RAF-DB 1..7 from Surprise, FER2013 0..6 from
//! Angry, FERPlus 0..7 from Neutral). A model's output order is a [`ClassList`]; converting
//! labels or predictions between two orders goes through [`ClassList::mapping_to`], never through
//! bare integers.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A basic facial expression. The declaration order is the canonical order (FERPlus's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expression {
    /// No expression.
    Neutral,
    /// Happiness ("happy").
    Happiness,
    /// Surprise.
    Surprise,
    /// Sadness ("sad").
    Sadness,
    /// Anger ("angry").
    Anger,
    /// Disgust.
    Disgust,
    /// Fear.
    Fear,
    /// Contempt (FERPlus and AffectNet only).
    Contempt,
}

impl Expression {
    /// All expressions in canonical order.
    pub const ALL: [Expression; 8] = [
        Expression::Neutral,
        Expression::Happiness,
        Expression::Surprise,
        Expression::Sadness,
        Expression::Anger,
        Expression::Disgust,
        Expression::Fear,
        Expression::Contempt,
    ];

    /// The canonical lower-case name, as written in exported model metadata.
    pub fn name(self) -> &'static str {
        match self {
            Expression::Neutral => "neutral",
            Expression::Happiness => "happiness",
            Expression::Surprise => "surprise",
            Expression::Sadness => "sadness",
            Expression::Anger => "anger",
            Expression::Disgust => "disgust",
            Expression::Fear => "fear",
            Expression::Contempt => "contempt",
        }
    }

    /// Parses a class name as the datasets and users write it ("Happy", "happiness", "angry",
    /// "ANGER", "surprised", ...). Returns `None` for anything else.
    pub fn parse(name: &str) -> Option<Expression> {
        let lower = name.trim().to_ascii_lowercase();
        let expression = match lower.as_str() {
            "neutral" | "neutrality" => Expression::Neutral,
            "happy" | "happiness" | "joy" => Expression::Happiness,
            "surprise" | "surprised" => Expression::Surprise,
            "sad" | "sadness" => Expression::Sadness,
            "angry" | "anger" => Expression::Anger,
            "disgust" | "disgusted" => Expression::Disgust,
            "fear" | "fearful" | "afraid" => Expression::Fear,
            "contempt" => Expression::Contempt,
            _ => return None,
        };
        Some(expression)
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An ordered list of classes: index `i` of a label or a model output is `classes[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassList(Vec<Expression>);

impl ClassList {
    /// RAF-DB basic: labels 1..7 in the label file are indices 0..6 here.
    pub fn rafdb() -> ClassList {
        use Expression::*;
        ClassList(vec![Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral])
    }

    /// FERPlus: the vote columns of label.csv, in order, without `unknown` and `NF`.
    pub fn ferplus() -> ClassList {
        ClassList(Expression::ALL.to_vec())
    }

    /// FER2013: `emotion` 0..6 of fer2013.csv (angry, disgust, fear, happy, sad, surprise,
    /// neutral).
    pub fn fer2013() -> ClassList {
        use Expression::*;
        ClassList(vec![Anger, Disgust, Fear, Happiness, Sadness, Surprise, Neutral])
    }

    /// A list from explicit expressions. Fails on an empty list or a repeated class.
    pub fn new(classes: Vec<Expression>) -> Result<ClassList, String> {
        if classes.is_empty() {
            return Err("a class list needs at least one class".into());
        }
        for (i, c) in classes.iter().enumerate() {
            if classes[..i].contains(c) {
                return Err(format!("class '{c}' appears twice"));
            }
        }
        Ok(ClassList(classes))
    }

    /// Parses a comma-separated list of names ("angry,disgust,fear,...").
    pub fn parse(names: &str) -> Result<ClassList, String> {
        let classes = names
            .split(',')
            .map(|n| Expression::parse(n).ok_or_else(|| format!("unknown expression '{}'", n.trim())))
            .collect::<Result<Vec<_>, _>>()?;
        ClassList::new(classes)
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the list is empty (never, for a list built by the constructors).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The class at `index`.
    pub fn get(&self, index: usize) -> Option<Expression> {
        self.0.get(index).copied()
    }

    /// The index of `expression` in this list.
    pub fn index_of(&self, expression: Expression) -> Option<usize> {
        self.0.iter().position(|&e| e == expression)
    }

    /// The classes in order.
    pub fn as_slice(&self) -> &[Expression] {
        &self.0
    }

    /// Canonical names in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|e| e.name()).collect()
    }

    /// For each index of `self`, the index of the same expression in `target` (or `None` where
    /// `target` lacks it, e.g. contempt going from FERPlus to FER2013).
    pub fn mapping_to(&self, target: &ClassList) -> Vec<Option<usize>> {
        self.0.iter().map(|&e| target.index_of(e)).collect()
    }
}

impl fmt::Display for ClassList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rafdb_to_fer2013_is_explicit() {
        // RAF-DB 1 (index 0) is Surprise, FER2013 5 is surprise.
        let map = ClassList::rafdb().mapping_to(&ClassList::fer2013());
        assert_eq!(map, vec![Some(5), Some(2), Some(1), Some(3), Some(4), Some(0), Some(6)]);
    }

    #[test]
    fn contempt_has_no_place_in_seven_classes() {
        let map = ClassList::ferplus().mapping_to(&ClassList::rafdb());
        assert_eq!(map[7], None);
        assert_eq!(map[0], Some(6)); // neutral
        assert_eq!(map[1], Some(3)); // happiness
    }

    #[test]
    fn names_parse_with_aliases_and_case() {
        assert_eq!(Expression::parse("Happy"), Some(Expression::Happiness));
        assert_eq!(Expression::parse(" ANGRY "), Some(Expression::Anger));
        assert_eq!(Expression::parse("surprised"), Some(Expression::Surprise));
        assert_eq!(Expression::parse("bored"), None);
        for e in Expression::ALL {
            assert_eq!(Expression::parse(e.name()), Some(e));
        }
    }

    #[test]
    fn class_list_rejects_repeats_and_unknown_names() {
        assert!(ClassList::parse("happy,sad,happiness").is_err());
        assert!(ClassList::parse("happy,bored").is_err());
        assert_eq!(
            ClassList::parse("sad, happy").unwrap().names(),
            vec!["sadness", "happiness"]
        );
    }
}

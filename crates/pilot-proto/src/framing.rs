//! How a city's match list travels on `Matches.Subscribe`: split into messages of bounded size
//! at subject boundaries by the hub ([`split_match_list`]) and put back together by the node
//! ([`MatchListAssembler`]).
//!
//! A city's list grows with its records (50,000 records × 20 matches is about a million
//! matches, hundreds of MB), so one message per list would exceed any sane message limit.
//! Every message of a list but the last carries a non-empty `next_page_token`; the last one
//! carries an empty token, and only then is the list complete. A subject's matches are never
//! split across messages.

use crate::pb;

/// Target size of one message of a split list, in encoded bytes. A subject whose matches alone
/// are larger still goes whole, in a message of its own (at most 100 matches, far below the
/// 64 MiB limits of both ends).
pub const MATCH_LIST_CHUNK_BYTES: usize = 1 << 20;

/// Splits `matches` (ordered by subject) into messages of about `max_bytes` each, never
/// splitting a subject. Always at least one message; only the last has an empty token.
pub fn split_match_list(matches: Vec<pb::Match>, max_bytes: usize) -> Vec<pb::MatchList> {
    use prost::Message as _;
    let mut out = Vec::new();
    let mut chunk: Vec<pb::Match> = Vec::new();
    let mut chunk_bytes = 0;
    let mut matches = matches.into_iter().peekable();
    while let Some(m) = matches.next() {
        // Room for the field tag and length prefix too.
        chunk_bytes += m.encoded_len() + 4;
        let subject_ends = matches.peek().is_some_and(|next| next.subject != m.subject);
        chunk.push(m);
        if subject_ends && chunk_bytes >= max_bytes {
            let subject = chunk.last().and_then(|m| m.subject.as_ref());
            let token = subject.map_or_else(String::new, |k| format!("{}:{}", k.city, k.pseudonym));
            out.push(pb::MatchList {
                matches: std::mem::take(&mut chunk),
                // Never empty, even for a (malformed) match without a subject.
                next_page_token: format!("after:{token}"),
            });
            chunk_bytes = 0;
        }
    }
    out.push(pb::MatchList { matches: chunk, next_page_token: String::new() });
    out
}

/// Puts a list split by [`split_match_list`] back together.
#[derive(Debug)]
pub struct MatchListAssembler {
    pending: Vec<pb::Match>,
    max_matches: usize,
}

/// A list that grew past the assembler's bound without being completed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "a pushed match list passed {max} matches without its last message; the stream is dropped, resubscribe"
)]
pub struct ListTooLong {
    /// The bound.
    pub max: usize,
}

impl MatchListAssembler {
    /// An assembler that refuses lists of more than `max_matches` matches.
    pub fn new(max_matches: usize) -> Self {
        MatchListAssembler { pending: Vec::new(), max_matches }
    }

    /// Takes the next message; returns the whole list when `msg` completes one.
    pub fn push(&mut self, msg: pb::MatchList) -> Result<Option<Vec<pb::Match>>, ListTooLong> {
        if self.pending.len() + msg.matches.len() > self.max_matches {
            self.pending = Vec::new();
            return Err(ListTooLong { max: self.max_matches });
        }
        self.pending.extend(msg.matches);
        if msg.next_page_token.is_empty() {
            Ok(Some(std::mem::take(&mut self.pending)))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    /// `per_subject` matches for each of `subjects` subjects, with explanations of some size.
    fn list(subjects: usize, per_subject: usize) -> Vec<pb::Match> {
        let key = |city: &str, n: usize| pb::SummaryKey {
            city: city.into(),
            pseudonym: format!("{n:032x}"),
        };
        (0..subjects)
            .flat_map(|s| {
                (0..per_subject).map(move |c| pb::Match {
                    subject: Some(key("421200", s)),
                    subject_kind: pb::Kind::Demand as i32,
                    counterpart: Some(key("440300", s * 1000 + c)),
                    counterpart_kind: pb::Kind::Achievement as i32,
                    score: 1.0 / (c + 1) as f32,
                    explanation: Some(pb::Explanation {
                        shared_terms: vec!["锂电池".into(), "隔膜".into(), "电解液".into()],
                        ..Default::default()
                    }),
                })
            })
            .collect()
    }

    fn subjects_of(msg: &pb::MatchList) -> Vec<Option<pb::SummaryKey>> {
        let mut out: Vec<Option<pb::SummaryKey>> =
            msg.matches.iter().map(|m| m.subject.clone()).collect();
        out.dedup();
        out
    }

    #[test]
    fn a_long_list_goes_in_bounded_messages_that_reassemble_to_it() {
        let full = list(500, 20);
        let max = 16 << 10;
        let msgs = split_match_list(full.clone(), max);
        assert!(msgs.len() > 10, "{} messages", msgs.len());
        let one_subject = full[..20].iter().map(|m| m.encoded_len() + 4).sum::<usize>();
        let mut seen = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let last = i == msgs.len() - 1;
            assert_eq!(m.next_page_token.is_empty(), last, "message {i}");
            // Closed at the first subject boundary at or past the bound.
            assert!(m.encoded_len() < max + one_subject + 16, "message {i}: {}", m.encoded_len());
            // No subject is split across messages.
            for s in subjects_of(m) {
                assert!(!seen.contains(&s), "subject {s:?} split");
                seen.push(s);
            }
        }
        let mut asm = MatchListAssembler::new(usize::MAX);
        let mut done = Vec::new();
        for m in msgs {
            done.extend(asm.push(m).unwrap());
        }
        assert_eq!(done, vec![full]);
    }

    #[test]
    fn a_short_or_empty_list_is_one_message() {
        for full in [Vec::new(), list(3, 5)] {
            let msgs = split_match_list(full.clone(), MATCH_LIST_CHUNK_BYTES);
            assert_eq!(msgs, vec![pb::MatchList { matches: full, next_page_token: String::new() }]);
        }
    }

    #[test]
    fn a_subject_larger_than_the_bound_goes_whole() {
        let full = list(3, 50);
        let msgs = split_match_list(full.clone(), 100);
        assert_eq!(msgs.len(), 3);
        assert!(msgs.iter().all(|m| m.matches.len() == 50 && subjects_of(m).len() == 1));
    }

    #[test]
    fn only_a_completed_list_is_handed_out_and_an_endless_one_is_refused() {
        let msgs = split_match_list(list(100, 10), 4 << 10);
        assert!(msgs.len() > 2);
        let mut asm = MatchListAssembler::new(10_000);
        for m in &msgs[..msgs.len() - 1] {
            assert_eq!(asm.push(m.clone()), Ok(None));
        }
        assert_eq!(asm.push(msgs[msgs.len() - 1].clone()).unwrap().map(|l| l.len()), Some(1000));

        // A stream that never ends its list is cut off at the bound, and starts afresh.
        let mut asm = MatchListAssembler::new(150);
        let mut results = msgs.iter().map(|m| asm.push(m.clone()));
        assert!(results.by_ref().take_while(Result::is_ok).count() < msgs.len());
        assert_eq!(asm.pending.len(), 0);
    }
}

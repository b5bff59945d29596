"""Characters <-> ids, with one extra symbol that marks the end of a tune.

The vocabulary is built from the training text and stored in the checkpoint, so a model always
travels with the exact mapping it was trained with.
"""
from abcgen.abc.tune import END  # noqa: F401 - the end-of-tune symbol; never occurs in normalized ABC
from abcgen.errors import FieldError


class Vocab:
    def __init__(self, chars: list[str]):
        if END not in chars:
            chars = [END] + list(chars)
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}
        if len(self.index) != len(self.chars):
            raise ValueError("vocabulary has duplicate characters")
        self.end_id = self.index[END]

    @classmethod
    def from_texts(cls, texts) -> "Vocab":
        seen = set()
        for t in texts:
            seen.update(t)
        seen.discard(END)
        return cls([END] + sorted(seen))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str, field: str = "input") -> list[int]:
        """Ids for `text`; a character the model never saw raises FieldError naming it."""
        try:
            return [self.index[c] for c in text]
        except KeyError:
            bad = sorted({c for c in text if c not in self.index})
            shown = ", ".join(repr(c) if c.isprintable() else f"U+{ord(c):04X}" for c in bad[:8])
            raise FieldError(field, f"the model does not know the character(s) {shown}; "
                                    "remove or replace them (plain ABC uses ASCII only)") from None

    def decode(self, ids) -> str:
        return "".join(self.chars[i] for i in ids)

    def to_list(self) -> list[str]:
        return list(self.chars)

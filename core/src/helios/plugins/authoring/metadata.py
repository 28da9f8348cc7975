"""What a new plug-in's ``pyproject.toml`` tells a package index: authors, URLs, classifiers.

``helios plugins new --author NAME --email ADDRESS --url URL`` fills these in; a value left
out becomes a commented line to fill in before publishing (the CLI says so). The Python
classifiers are the installed core's: a plug-in claims the Pythons its core is tested on.
Every value comes from the command line or installed metadata, so each is checked before it
lands in a TOML string. Nothing here imports torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from urllib.parse import urlsplit

from helios.plugins._host.manifest import CORE_DISTRIBUTION

__all__ = ["PYTHON_CLASSIFIER", "MetadataError", "ProjectMetadata", "core_pythons"]

PYTHON_CLASSIFIER = "Programming Language :: Python :: "
MAX_NAME = 100
MAX_EMAIL = 254
MAX_URL = 300
#: At most this many Python classifiers are read from the installed core's metadata.
MAX_PYTHONS = 16

_NAME_REFUSED = set('"\\<>,')
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_URL_REFUSED = re.compile(r"[\s\"\\<>]")
_PYTHON = re.compile(re.escape(PYTHON_CLASSIFIER) + r"(3\.\d{1,2})")


class MetadataError(ValueError):
    """A value for the new project's metadata is not usable."""


def _check_name(author: str) -> str:
    if (
        not author.strip()
        or len(author) > MAX_NAME
        or not author.isprintable()
        or _NAME_REFUSED & set(author)
    ):
        raise MetadataError(
            f"invalid --author {_shown(author)}: expected a name of 1 to {MAX_NAME} printable "
            'characters without " \\ < > or ","; for example: --author "Ada Lovelace"'
        )
    return author.strip()


def _check_email(email: str) -> str:
    if len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email):
        raise MetadataError(
            f"invalid --email {_shown(email)}: expected one address like name@example.org "
            f"(at most {MAX_EMAIL} characters); for example: --email ada@example.org"
        )
    return email


def _check_url(url: str) -> str:
    parts = urlsplit(url) if len(url) <= MAX_URL and not _URL_REFUSED.search(url) else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        raise MetadataError(
            f"invalid --url {_shown(url)}: expected the project's home page, an http(s) URL "
            f"with a host, no spaces or quotes, at most {MAX_URL} characters; for example: "
            "--url https://github.com/you/helios-my-plugin"
        )
    return url


def _shown(value: str) -> str:
    """``value`` quoted, escaped and cut: it came from the command line."""
    return repr(value[:60] + "…" if len(value) > 60 else value)


def core_pythons() -> tuple[str, ...]:
    """The ``3.N`` Python classifiers of the installed core, in order; empty when unknown."""
    try:
        classifiers = metadata.metadata(CORE_DISTRIBUTION).get_all("Classifier") or []
    except metadata.PackageNotFoundError:
        return ()
    found = []
    for classifier in classifiers[:256]:
        match = _PYTHON.fullmatch(classifier)
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return tuple(sorted(found[:MAX_PYTHONS], key=lambda v: int(v.split(".")[1])))


@dataclass(frozen=True)
class ProjectMetadata:
    """The index-facing fields of a new plug-in project; None means "fill in later"."""

    author: str | None
    email: str | None
    url: str | None
    year: int
    pythons: tuple[str, ...]

    @classmethod
    def checked(
        cls,
        *,
        author: str | None,
        email: str | None,
        url: str | None,
        year: int,
        pythons: tuple[str, ...],
    ) -> ProjectMetadata:
        """The values after their checks; a MetadataError names the first bad one and the fix."""
        return cls(
            author=None if author is None else _check_name(author),
            email=None if email is None else _check_email(email),
            url=None if url is None else _check_url(url),
            year=year,
            pythons=pythons,
        )

    @property
    def unfilled(self) -> tuple[str, ...]:
        """The pyproject.toml entries left to fill in: ``authors``, ``[project.urls]``."""
        return tuple(
            entry
            for entry, done in (
                ("authors", self.author and self.email),
                ("[project.urls]", self.url),
            )
            if not done
        )

    @property
    def missing(self) -> tuple[str, ...]:
        """The options whose values the project lacks: ``--author``, ``--email``, ``--url``."""
        given = {"--author": self.author, "--email": self.email, "--url": self.url}
        return tuple(option for option, value in given.items() if value is None)

    def authors_line(self) -> str:
        """``authors = [...]`` for pyproject.toml, or a commented line to fill in."""
        given = (("name", self.author), ("email", self.email))
        fields = [f'{key} = "{value}"' for key, value in given if value]
        if not fields:
            return '# authors = [{name = "...", email = "..."}]  # fill in before publishing'
        line = f"authors = [{{{', '.join(fields)}}}]"
        return line if self.email else f"{line}  # add an email before publishing"

    def urls_table(self) -> str:
        """The ``[project.urls]`` table, or a commented one to fill in."""
        if self.url is None:
            return '# [project.urls]  # fill in before publishing\n# Homepage = "https://..."'
        return f'[project.urls]\nHomepage = "{self.url}"'

    def licence_holder(self, distribution: str) -> str:
        """Whom the LICENSE names: the author, else the project's authors as a group."""
        return self.author or f"The {distribution} authors"

    def python_classifiers(self) -> str:
        """The Python classifier lines of the ``classifiers`` array, indented."""
        lines = [f"{PYTHON_CLASSIFIER}3 :: Only", *(PYTHON_CLASSIFIER + v for v in self.pythons)]
        return "\n".join(f'    "{line}",' for line in lines)

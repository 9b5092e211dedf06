<%doc>
  Two kinds of revision use this template:
  - written by `bindu-schema revision` (bindu is set): header, op.execute(...) per statement;
  - `alembic revision [-m ...] [--autogenerate]`: Alembic's usual upgrades/downgrades.
</%doc>\
<%!
    def inert(text):
        # The -m message inside the docstring, whatever it holds (triple quotes, backslashes,
        # newlines, \N{...}, U+2028): quotes and backslashes escaped, and every character
        # that is not printable (newlines too, so the message stays on the first line and
        # cannot fake a header line) written as its escape; the docstring still reads as
        # the message.
        out = []
        for ch in str(text):
            if ch in "\\\"":
                out.append("\\" + ch)
            elif ch.isprintable():
                out.append(ch)
            else:
                out.append(ch.encode("unicode_escape").decode("ascii"))
        return "".join(out)
%>\
% if bindu:
${bindu["preamble"]}\
% endif
"""${inert(message)}

Revision ID: ${up_revision}
Revises:${" " + comma(down_revision) if down_revision else ""}
Create Date: ${create_date}
% if bindu:

${bindu["docstring"]}\
% endif
"""

from collections.abc import Sequence

% if bindu:
from alembic import op
% else:
import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
% endif

# revision identifiers, used by Alembic.
revision: str = ${repr(up_revision).replace("'", '"')}
down_revision: str | Sequence[str] | None = ${repr(down_revision).replace("'", '"')}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels).replace("'", '"')}
depends_on: str | Sequence[str] | None = ${repr(depends_on).replace("'", '"')}


def upgrade() -> None:
% if bindu:
${bindu["upgrade"]}
% else:
    ${upgrades if upgrades else "pass"}
% endif


def downgrade() -> None:
% if bindu:
${bindu["downgrade"]}
% else:
    ${downgrades if downgrades else "pass"}
% endif

"""A results page (markdown and HTML) with tables and figures."""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Sequence, Tuple, Union


@dataclass
class Report:
    """Collects sections; :meth:`write` emits ``report.md`` and ``report.html`` side by side.

    Figures are referenced by paths relative to the report, so the folder can be moved.
    """

    title: str
    blocks: List[Tuple[str, object]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(('h2', text))

    def text(self, text: str) -> None:
        self.blocks.append(('p', text))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        self.blocks.append(('table', (list(header), [list(r) for r in rows])))

    def figure(self, path: Union[str, Path], caption: str) -> None:
        self.blocks.append(('img', (Path(path), caption)))

    def write(self, out_dir: Union[str, Path]) -> Path:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        md, web = [f'# {self.title}', ''], [
            '<!doctype html><meta charset="utf-8">', f'<title>{html.escape(self.title)}</title>',
            '<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}'
            'table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.2em .6em}'
            'img{max-width:32em}</style>', f'<h1>{html.escape(self.title)}</h1>']
        for kind, body in self.blocks:
            if kind == 'h2':
                md += [f'## {body}', '']
                web.append(f'<h2>{html.escape(str(body))}</h2>')
            elif kind == 'p':
                md += [str(body), '']
                web.append(f'<p>{html.escape(str(body))}</p>')
            elif kind == 'table':
                header, rows = body
                md.append('| ' + ' | '.join(map(str, header)) + ' |')
                md.append('|' + '---|' * len(header))
                md += ['| ' + ' | '.join(map(str, r)) + ' |' for r in rows]
                md.append('')
                web.append('<table><tr>' + ''.join(f'<th>{html.escape(str(h))}</th>'
                                                   for h in header) + '</tr>')
                web += ['<tr>' + ''.join(f'<td>{html.escape(str(c))}</td>' for c in r) + '</tr>'
                        for r in rows]
                web.append('</table>')
            else:
                path, caption = body
                rel = os.path.relpath(path, out_dir)
                md += [f'![{caption}]({rel})', f'*{caption}*', '']
                web.append(f'<figure><img src="{html.escape(rel)}" alt="{html.escape(caption)}">'
                           f'<figcaption>{html.escape(caption)}</figcaption></figure>')
        (out_dir / 'report.md').write_text('\n'.join(md) + '\n')
        (out_dir / 'report.html').write_text('\n'.join(web) + '\n')
        return out_dir / 'report.md'

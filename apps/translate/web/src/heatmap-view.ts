/**
 * An attention heatmap as an HTML table: one row per query token (a focusable button in the row
 * header), one column per key token, one cell per (query, key) pair coloured by its weight.
 * Hovering a row, or focusing its token, makes it the active row: the row is outlined and a line
 * above the table spells out its weights. Clicking (or Enter) pins the row until another is chosen.
 */

export interface HeatmapData {
  /** What the table shows, e.g. "Cross-attention, layer 1, average of 4 heads". */
  caption: string;
  rowLabel: string;
  columnLabel: string;
  rows: string[];
  columns: string[];
  /** weights[row][column], each in [0, 1]. */
  weights: number[][];
}

/** Sequential blues (light to dark): weight 0 is near white, 1 dark blue. */
const STOPS = [
  [247, 251, 255],
  [198, 219, 239],
  [107, 174, 214],
  [33, 113, 181],
  [8, 48, 107],
] as const;

export function colour(weight: number): string {
  const x = Math.min(1, Math.max(0, weight)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [STOPS[i]!, STOPS[i + 1]!];
  const mix = (k: number) => Math.round(a[k]! + (b[k]! - a[k]!) * f);
  return `rgb(${mix(0)}, ${mix(1)}, ${mix(2)})`;
}

/** Cells from weight 0.4 up are dark enough for white text (contrast >= 4.5 either way). */
const textColour = (weight: number) => (weight >= 0.4 ? '#ffffff' : '#111111');

const percent = (w: number) => `${Math.round(w * 100)}%`;

export class HeatmapView {
  private data: HeatmapData | null = null;
  private pinned: number | null = null;
  private active: number | null = null;

  constructor(
    private readonly table: HTMLTableElement,
    private readonly focusLine: HTMLElement,
  ) {
    table.addEventListener('mouseover', (event) => {
      const row = (event.target as HTMLElement).closest('tr[data-row]');
      if (row) this.setActive(Number((row as HTMLElement).dataset.row));
    });
    table.addEventListener('mouseleave', () => this.setActive(this.pinned));
    table.addEventListener('focusin', (event) => {
      const row = (event.target as HTMLElement).closest('tr[data-row]');
      if (row) this.setActive(Number((row as HTMLElement).dataset.row));
    });
    table.addEventListener('click', (event) => {
      const button = (event.target as HTMLElement).closest('button[data-row]');
      if (button) this.pin(Number((button as HTMLElement).dataset.row));
    });
    table.addEventListener('keydown', (event) => this.onKey(event));
  }

  /** Draws `data`; keeps the pinned row when it still exists. */
  render(data: HeatmapData): void {
    this.data = data;
    if (this.pinned !== null && this.pinned >= data.rows.length) this.pinned = null;
    const t = this.table;
    t.replaceChildren();
    const caption = t.createCaption();
    caption.textContent = `${data.caption}. Rows: ${data.rowLabel}; columns: ${data.columnLabel}.`;
    const head = t.createTHead().insertRow();
    const corner = document.createElement('td');
    corner.className = 'corner';
    head.append(corner);
    for (const c of data.columns) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = c;
      head.append(th);
    }
    const body = t.createTBody();
    data.rows.forEach((r, i) => {
      const tr = body.insertRow();
      tr.dataset.row = String(i);
      const th = document.createElement('th');
      th.scope = 'row';
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'token';
      button.dataset.row = String(i);
      button.textContent = r;
      button.setAttribute('aria-pressed', 'false');
      th.append(button);
      tr.append(th);
      data.weights[i]!.forEach((w, j) => {
        const td = tr.insertCell();
        td.className = 'cell';
        td.dataset.row = String(i);
        td.dataset.col = String(j);
        td.style.background = colour(w);
        td.style.color = textColour(w);
        td.textContent = w >= 0.005 ? String(Math.round(w * 100)) : '';
        td.title = `${r} → ${data.columns[j]!}: ${w.toFixed(3)}`;
      });
    });
    this.setActive(this.pinned);
  }

  /** The row shown as active (hovered, focused or pinned), or null. */
  get activeRow(): number | null {
    return this.active;
  }

  private pin(row: number): void {
    this.pinned = this.pinned === row ? null : row;
    for (const b of this.table.querySelectorAll<HTMLButtonElement>('button[data-row]')) {
      b.setAttribute('aria-pressed', String(Number(b.dataset.row) === this.pinned));
    }
    this.setActive(this.pinned ?? row);
  }

  private setActive(row: number | null): void {
    this.active = row;
    for (const tr of this.table.querySelectorAll<HTMLTableRowElement>('tbody tr')) {
      tr.classList.toggle('active', Number(tr.dataset.row) === row);
    }
    this.describe(row);
  }

  /** One line: the active token and its strongest weights, or a hint. */
  private describe(row: number | null): void {
    const d = this.data;
    if (!d || row === null) {
      this.focusLine.textContent = 'No row selected.';
      return;
    }
    const ranked = d.weights[row]!.map((w, j) => ({ w, token: d.columns[j]! }))
      .sort((a, b) => b.w - a.w)
      .slice(0, 3)
      .filter(({ w }) => w >= 0.01);
    const line = ranked.map(({ w, token }) => `“${token}” ${percent(w)}`).join(', ');
    this.focusLine.textContent = `“${d.rows[row]!}” attends to ${line || 'nothing'}.`;
  }

  private onKey(event: KeyboardEvent): void {
    const button = (event.target as HTMLElement).closest('button[data-row]') as HTMLElement | null;
    if (!button || !this.data) return;
    const step = event.key === 'ArrowDown' ? 1 : event.key === 'ArrowUp' ? -1 : 0;
    if (step === 0) return;
    event.preventDefault();
    const next = Math.min(this.data.rows.length - 1, Math.max(0, Number(button.dataset.row) + step));
    this.table.querySelector<HTMLButtonElement>(`button[data-row="${next}"]`)?.focus();
  }
}

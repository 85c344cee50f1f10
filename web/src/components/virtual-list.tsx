/**
 * A list that renders only the rows in view (plus a margin), so 10 000 hosts scroll as smoothly as 10: rows have a
 * fixed height; the list is one scrolling region with the full height, the visible rows placed by offset.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

export interface VirtualListProps<T> {
  items: readonly T[];
  rowHeight: number;
  /** Height of the scrolling region (CSS), e.g. "calc(100vh - 14rem)". */
  height: string;
  label: string;
  row(item: T, index: number): ComponentChildren;
  keyOf(item: T): string;
}

const OVERSCAN = 8;

export function VirtualList<T>({ items, rowHeight, height, label, row, keyOf }: VirtualListProps<T>) {
  const ref = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(800);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const resize = new ResizeObserver(() => setViewport(element.clientHeight));
    resize.observe(element);
    return () => resize.disconnect();
  }, []);
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - OVERSCAN);
  const last = Math.min(items.length, Math.ceil((scrollTop + viewport) / rowHeight) + OVERSCAN);
  const visible = items.slice(first, last);
  return (
    <div ref={ref} class="virtual-list" style={{ height }} onScroll={(e) => setScrollTop((e.currentTarget as HTMLDivElement).scrollTop)} role="list" aria-label={label} tabIndex={0}>
      <div style={{ height: `${items.length * rowHeight}px`, position: "relative" }}>
        {visible.map((item, i) => (
          <div key={keyOf(item)} role="listitem" class="virtual-row" style={{ top: `${(first + i) * rowHeight}px`, height: `${rowHeight}px` }} aria-setsize={items.length} aria-posinset={first + i + 1}>
            {row(item, first + i)}
          </div>
        ))}
      </div>
    </div>
  );
}

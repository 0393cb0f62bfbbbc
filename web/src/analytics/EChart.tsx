import { useEffect, useRef, useState } from 'react';
// Modular ECharts: only the chart types and components these screens use, so the analytics chunk stays small.
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import type { ComposeOption } from 'echarts/core';
import type { BarSeriesOption, LineSeriesOption } from 'echarts/charts';
import type { GridComponentOption, LegendComponentOption, TooltipComponentOption } from 'echarts/components';

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

export type ChartOption = ComposeOption<BarSeriesOption | LineSeriesOption | GridComponentOption | LegendComponentOption | TooltipComponentOption>;

/** Series colours readable on the light and the dark surface alike. */
export const PALETTE = ['#6366f1', '#f59e0b', '#10b981', '#ef4444', '#06b6d4', '#a855f7', '#84cc16', '#ec4899'];

/** The theme attribute of <html>, followed as the user switches it. */
export function useThemeName(): string {
  const [theme, setTheme] = useState(() => document.documentElement.dataset.theme ?? 'light');
  useEffect(() => {
    const obs = new MutationObserver(() => setTheme(document.documentElement.dataset.theme ?? 'light'));
    obs.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => obs.disconnect();
  }, []);
  return theme;
}

const cssVar = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/**
 * An Apache ECharts chart. The canvas is an image to assistive technology with `summary` as its
 * text; the numbers themselves are in the data table each screen offers beside the chart.
 */
export function EChart({ option, summary, height = 320 }: { option: ChartOption; summary: string; height?: number }) {
  const ref = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const theme = useThemeName();

  useEffect(() => {
    const el = ref.current!;
    chart.current = echarts.init(el, undefined, { renderer: 'canvas' });
    const resize = new ResizeObserver(() => chart.current?.resize());
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.current?.dispose();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    const text = cssVar('--text') || '#1b1b29';
    const muted = cssVar('--muted') || '#565670';
    const border = cssVar('--border') || '#d6d6e3';
    const axis = { axisLabel: { color: muted }, axisLine: { lineStyle: { color: border } }, splitLine: { lineStyle: { color: border } } };
    const withAxes = (a: unknown) => (Array.isArray(a) ? a.map((x) => ({ ...axis, ...(x as object) })) : a ? { ...axis, ...(a as object) } : a);
    const { legend, tooltip, grid, xAxis, yAxis, ...rest } = option as Record<string, unknown>;
    chart.current?.setOption(
      {
        color: PALETTE,
        textStyle: { color: text },
        ...rest,
        legend: legend ? { top: 0, left: 'center', textStyle: { color: text }, pageTextStyle: { color: text }, ...(legend as object) } : undefined,
        tooltip: { trigger: 'axis', ...(tooltip as object | undefined) },
        grid: { left: 8, right: 16, top: legend ? 40 : 24, bottom: 8, containLabel: true, ...(grid as object | undefined) },
        xAxis: withAxes(xAxis),
        yAxis: withAxes(yAxis),
      } as ChartOption,
      { notMerge: true },
    );
  }, [option, theme]);

  return <div ref={ref} role="img" aria-label={summary} className="an-chart" style={{ height }} />;
}

import { useEffect, useMemo, useState } from 'react';
import {
  applyEdgeChanges,
  applyNodeChanges,
  Background,
  Controls,
  Handle,
  Position,
  ReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type Node,
  type NodeChange,
  type NodeProps,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { definitionToGraph, TRIGGER_NODE, type Definition, type GraphEdge } from './graph';

type NodeData = { label: string; title: string; errors: number; condition: boolean };
type FlowNode = Node<NodeData>;
type FlowEdge = Edge<{ kind: GraphEdge['kind']; handle: GraphEdge['handle'] }>;

function StepNode({ data }: NodeProps<FlowNode>) {
  return (
    <div className={`wf-node${data.errors ? ' wf-node-error' : ''}`}>
      <Handle type="target" position={Position.Top} />
      <div className="wf-node-type">{data.title}</div>
      <div className="wf-node-id">{data.label}</div>
      {data.errors > 0 && <div className="wf-node-badge">{data.errors === 1 ? '1 error' : `${data.errors} errors`}</div>}
      {data.condition ? (
        <>
          <Handle type="source" id="then" position={Position.Bottom} style={{ left: '25%' }} />
          <Handle type="source" id="else" position={Position.Bottom} style={{ left: '75%' }} />
          <div className="wf-node-branches" aria-hidden="true">
            <span>then</span>
            <span>else</span>
          </div>
        </>
      ) : (
        <Handle type="source" id="next" position={Position.Bottom} />
      )}
    </div>
  );
}

function TriggerNode({ data }: NodeProps<FlowNode>) {
  return (
    <div className={`wf-node wf-node-trigger${data.errors ? ' wf-node-error' : ''}`}>
      <div className="wf-node-type">Trigger</div>
      <div className="wf-node-id">{data.title}</div>
      {data.errors > 0 && <div className="wf-node-badge">{data.errors === 1 ? '1 error' : `${data.errors} errors`}</div>}
      <Handle type="source" id="next" position={Position.Bottom} />
    </div>
  );
}

const nodeTypes = { step: StepNode, trigger: TriggerNode };

/** The app's theme (data-theme on <html>), followed as it changes. */
function useThemeMode(): 'light' | 'dark' {
  const read = (): 'light' | 'dark' => (document.documentElement.dataset.theme === 'dark' ? 'dark' : 'light');
  const [mode, setMode] = useState(read);
  useEffect(() => {
    const observer = new MutationObserver(() => setMode(read()));
    observer.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => observer.disconnect();
  }, []);
  return mode;
}

export interface CanvasProps {
  definition: Definition;
  titles: Record<string, string>;
  selected: string | null;
  errorCounts: Record<string, number>;
  /** Bumped to throw away dragged positions and lay the graph out again. */
  layoutVersion: number;
  onSelect: (id: string | null) => void;
  onConnect: (source: string, handle: GraphEdge['handle'], target: string) => void;
  onDisconnect: (edge: Pick<GraphEdge, 'source' | 'handle' | 'kind'>) => void;
  onRemove: (id: string) => void;
}

/**
 * The workflow on a node canvas (@xyflow/react, docs/adr/0030-workflow-editor.md). Nodes and edges
 * are derived from the definition; gestures are reported to the editor, which changes the definition.
 * Node positions live only here (dragging is a view concern; the definition has no layout).
 */
export default function Canvas({ definition, titles, selected, errorCounts, layoutVersion, onSelect, onConnect, onDisconnect, onRemove }: CanvasProps) {
  const graph = useMemo(() => definitionToGraph(definition), [definition]);
  const [nodes, setNodes] = useState<FlowNode[]>([]);
  const [edges, setEdges] = useState<FlowEdge[]>([]);
  const mode = useThemeMode();

  useEffect(() => {
    setNodes((prev) => {
      const old = new Map(prev.map((n) => [n.id, n]));
      return graph.nodes.map((g): FlowNode => {
        const before = old.get(g.id);
        const title = g.kind === 'trigger' ? g.type : (titles[g.type] ?? g.type);
        const errors = errorCounts[g.id] ?? 0;
        return {
          ...before,
          id: g.id,
          type: g.kind,
          position: before && layoutVersion === (before.data as NodeData & { layout?: number }).layout ? before.position : g.position,
          data: { label: g.label, title, errors, condition: g.type === 'condition' && g.kind === 'step', layout: layoutVersion } as NodeData,
          selected: g.id === selected,
          deletable: g.kind === 'step',
          ariaLabel: g.kind === 'trigger' ? `Trigger: ${g.type}` : `Step ${g.label}, ${title}${errors ? `, ${errors} validation errors` : ''}`,
        };
      });
    });
  }, [graph, titles, selected, errorCounts, layoutVersion]);

  useEffect(() => {
    setEdges((prev) => {
      const wasSelected = new Set(prev.filter((e) => e.selected).map((e) => e.id));
      return graph.edges.map(
        (e): FlowEdge => ({
          id: e.id,
          source: e.source,
          target: e.target,
          sourceHandle: e.handle,
          label: e.kind === 'then' || e.kind === 'else' ? e.kind : e.kind === 'order' && e.handle === 'then' ? 'then' : undefined,
          className: `wf-edge wf-edge-${e.kind}`,
          deletable: e.removable,
          selected: wasSelected.has(e.id),
          ariaLabel: `${e.source === TRIGGER_NODE ? 'Trigger' : e.source} ${e.kind === 'order' ? 'then, in list order,' : e.kind === 'start' ? 'starts' : e.kind === 'next' ? 'goes to' : `${e.kind} branch to`} ${e.target}${e.removable ? '' : ' (implicit)'}`,
          data: { kind: e.kind, handle: e.handle },
        }),
      );
    });
  }, [graph]);

  const onNodesChange = (changes: NodeChange<FlowNode>[]) => {
    // Selection flows one way: a click or Enter on a node reports it, the editor decides, the nodes
    // show it (answering React Flow's own selection events would ping-pong with the editor's state).
    const picked = changes.find((c) => c.type === 'select' && c.selected);
    if (picked && picked.type === 'select' && picked.id !== selected) onSelect(picked.id);
    // Removal goes through onNodesDelete, which edits the definition.
    setNodes((ns) => applyNodeChanges(changes.filter((c) => c.type !== 'remove' && c.type !== 'select'), ns));
  };
  const onEdgesChange = (changes: EdgeChange<FlowEdge>[]) => {
    // Selecting an edge leaves no step selected, so Delete removes the edge and not the step as well.
    if (selected !== null && changes.some((c) => c.type === 'select' && c.selected)) onSelect(null);
    setEdges((es) => applyEdgeChanges(changes.filter((c) => c.type !== 'remove'), es));
  };

  return (
    <div className="wf-canvas" aria-label="Workflow canvas" role="region">
      <ReactFlow<FlowNode, FlowEdge>
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        colorMode={mode}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onPaneClick={() => selected !== null && onSelect(null)}
        onConnect={(c: Connection) => c.target && onConnect(c.source, (c.sourceHandle ?? 'next') as GraphEdge['handle'], c.target)}
        onNodesDelete={(ns) => ns.forEach((n) => n.id !== TRIGGER_NODE && onRemove(n.id))}
        onEdgesDelete={(es) => es.forEach((e) => e.data && onDisconnect({ source: e.source, handle: e.data.handle, kind: e.data.kind }))}
        deleteKeyCode={['Backspace', 'Delete']}
        fitView
        fitViewOptions={{ maxZoom: 1.1 }}
        minZoom={0.3}
        proOptions={{ hideAttribution: false }}
      >
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}

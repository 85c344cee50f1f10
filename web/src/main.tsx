import { render } from "preact";
import "./styles.css";
import { App } from "./app.js";
import { restore } from "./lib/session.js";

void restore();
render(<App />, document.getElementById("app")!);
